/// The journal records idleness is decided from: who writes what, in one place for the agent, studiod, the broker
/// and studio-idled (see docs/architecture.md, "Idle and activity").
public enum ActivityRecord {
    /// `STUDIO_EVENT=` of an activity record (a person did something in or with a workspace).
    public static let event = "activity"
    /// `STUDIO_EVENT=` of studio-idled's own record that a workspace's CPU work began or ended.
    public static let workEvent = "idle-work"
    /// Journal fields (upper case, as the journal stores them).
    public static let eventField = "STUDIO_EVENT"
    public static let sourceField = "STUDIO_SOURCE"
    public static let userField = "STUDIO_USER"
    public static let workspaceField = "STUDIO_WORKSPACE"
    /// On `workspace-keep`: until when (seconds since the epoch; the time of the entry itself ends a keep).
    public static let keepUntilField = "STUDIO_KEEP_UNTIL"
    /// On `idle-work`: `1` when work began, `0` when it ended.
    public static let busyField = "STUDIO_BUSY"
    /// On `idle-work` when work ended: the end of the last busy window (seconds since the epoch).
    public static let lastWorkField = "STUDIO_LAST_WORK"
    /// The unit a record of studio-idled is about.
    public static let unitField = "STUDIO_UNIT"
    /// How long at most between two records of the same workspace and source.
    public static let throttleSeconds = 30.0
}

/// What a person did.
public enum ActivitySource: String, Codable, Sendable, CaseIterable {
    /// Typed into a terminal (output alone is never activity: a `tail -f` left open is not a person).
    case terminal
    /// Started a program with exec.
    case exec
    /// Connected to one of the workspace's apps.
    case app
    /// Acted on the workspace through the dashboard or API (start, keep, limits, opening a terminal).
    case api
}

/// `keep`: do not stop the running workspace for idleness before `seconds` from now (0 ends an earlier keep).
public struct KeepParams: Codable, Sendable, Equatable {
    public var owner: String?
    public var name: String
    public var seconds: Double

    /// The longest keep: 30 days.
    public static let range = 0.0...(30 * 86400)

    public init(owner: String? = nil, name: String, seconds: Double) {
        self.owner = owner
        self.name = name
        self.seconds = seconds
    }

    public var target: WorkspaceTarget { WorkspaceTarget(owner: owner, name: name) }
}

/// The answer to `keep`.
public struct KeepResult: Codable, Sendable, Equatable {
    public var workspace: WorkspaceInfo
    /// Not stopped for idleness before this (seconds since the epoch); nil when the keep was ended.
    public var keepUntil: Double?

    public init(workspace: WorkspaceInfo, keepUntil: Double?) {
        self.workspace = workspace
        self.keepUntil = keepUntil
    }
}

/// What studio-idled knows about one running workspace, as `status`, `list` and the dashboard show it.
public struct IdleStatus: Codable, Sendable, Equatable {
    /// The last activity record of a person (seconds since the epoch), and what it was.
    public var lastActivity: Double?
    public var lastActivitySource: ActivitySource?
    /// The end of the last check window in which it used more CPU than `[Idle] BusyCPU=`.
    public var lastWork: Double?
    /// Whether the last window was busy.
    public var busy: Bool
    /// `keep --for`: not stopped before this.
    public var keepUntil: Double?
    /// What holds the deadline where it is: `started`, `interaction`, `work` or `keep`.
    public var keptBy: IdleTimeline.Reason
    /// The last sign of life (start, interaction or work): idle since then.
    public var idleSince: Double
    /// When studio-idled stops it if nothing happens; nil: never (timeout 0).
    public var stopAt: Double?
    /// How CPU work is measured here: `cgroup` (the kernel's counter for the unit, systemd's CPUUsageNSec) or
    /// `processes` (the CPU times of the unit's processes, where cgroup v1 has no counter for it).
    public var cpuMeasure: String?

    public init(
        lastActivity: Double? = nil, lastActivitySource: ActivitySource? = nil, lastWork: Double? = nil, busy: Bool = false,
        keepUntil: Double? = nil, keptBy: IdleTimeline.Reason, idleSince: Double, stopAt: Double?, cpuMeasure: String? = nil
    ) {
        self.lastActivity = lastActivity
        self.lastActivitySource = lastActivitySource
        self.lastWork = lastWork
        self.busy = busy
        self.keepUntil = keepUntil
        self.keptBy = keptBy
        self.idleSince = idleSince
        self.stopAt = stopAt
        self.cpuMeasure = cpuMeasure
    }
}

/// How a workspace was last stopped for idleness (cleared when it starts again).
public struct IdleStop: Codable, Sendable, Equatable {
    /// When it was stopped (seconds since the epoch).
    public var at: Double
    /// Idle since (seconds since the epoch).
    public var idleSince: Double

    public init(at: Double, idleSince: Double) {
        self.at = at
        self.idleSince = idleSince
    }
}

/// What studio-idled publishes for the broker to show (`/run/studio-idled/idle.json`): rebuilt from the journal
/// whenever studio-idled starts, never read back by it.
public struct IdleReport: Codable, Sendable, Equatable {
    /// When it was written (seconds since the epoch); an old report is not shown.
    public var generatedAt: Double
    /// By unit name.
    public var workspaces: [String: IdleStatus]

    /// studio-idled rewrites it every check; one older than this means it is not running.
    public static let staleAfterSeconds = 60.0
    /// The largest report the broker reads.
    public static let maxBytes = 8 << 20

    public init(generatedAt: Double, workspaces: [String: IdleStatus]) {
        self.generatedAt = generatedAt
        self.workspaces = workspaces
    }
}
