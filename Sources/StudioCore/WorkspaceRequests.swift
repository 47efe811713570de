/// Names one workspace in a broker request: its name, and its owner when the caller is root acting for someone.
public struct WorkspaceTarget: Codable, Sendable, Equatable {
    /// The owner's user name; nil means the caller.
    public var owner: String?
    public var name: String

    public init(owner: String? = nil, name: String) {
        self.owner = owner
        self.name = name
    }
}

/// `stop`: the workspace, and why (studio-idled must say; the reason lands in the audit entry).
public struct StopParams: Codable, Sendable, Equatable {
    public var owner: String?
    public var name: String
    public var reason: String?
    /// studio-idled's stop: idle since when (seconds since the epoch); shown with the stopped workspace.
    public var idleSince: Double?

    /// The longest reason kept; a longer one is refused.
    public static let maxReasonLength = 500

    public init(owner: String? = nil, name: String, reason: String? = nil, idleSince: Double? = nil) {
        self.owner = owner
        self.name = name
        self.reason = reason
        self.idleSince = idleSince
    }

    public var target: WorkspaceTarget { WorkspaceTarget(owner: owner, name: name) }

    /// The reason as it may be recorded: one line of printable text, at most ``maxReasonLength`` characters.
    public static func checkedReason(_ reason: String?) throws(RequestError) -> String? {
        guard let reason, !reason.isEmpty else { return nil }
        guard reason.count <= maxReasonLength, !reason.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw .badRequest("a stop reason must be one line of at most \(maxReasonLength) characters without control characters")
        }
        return reason
    }
}

/// `create` and `start` (which creates on first use).
public struct CreateParams: Codable, Sendable, Equatable {
    public var owner: String?
    public var name: String
    /// Absolute path; required to create, ignored when the workspace exists.
    public var projectDirectory: String?
    public var template: String?
    public var limits: ResourceLimits?
    /// Make the project directory (for the owner, inside a directory they own) when it is missing.
    public var createDirectory: Bool?

    public init(
        owner: String? = nil, name: String, projectDirectory: String? = nil, template: String? = nil, limits: ResourceLimits? = nil,
        createDirectory: Bool? = nil
    ) {
        self.owner = owner
        self.name = name
        self.projectDirectory = projectDirectory
        self.template = template
        self.limits = limits
        self.createDirectory = createDirectory
    }

    public var target: WorkspaceTarget { WorkspaceTarget(owner: owner, name: name) }
}

/// `list`.
public struct ListParams: Codable, Sendable, Equatable {
    /// Another user's workspaces (root only).
    public var owner: String?
    /// Everyone's workspaces (root only).
    public var all: Bool

    public init(owner: String? = nil, all: Bool = false) {
        self.owner = owner
        self.all = all
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        owner = try container.decodeIfPresent(String.self, forKey: .owner)
        all = try container.decodeIfPresent(Bool.self, forKey: .all) ?? false
    }
}

/// `set`: new limits for a workspace, applied to the running unit at once, and its own idle timeout.
public struct SetParams: Codable, Sendable, Equatable {
    public var owner: String?
    public var name: String
    public var limits: ResourceLimits
    /// The workspace's own idle timeout in seconds (0: never stopped for idleness); nil leaves it as it is.
    public var idleTimeoutSeconds: Double?

    /// An idle timeout is 0 (never) or from 1 min to 365 days: activity records come at most every 30 s
    /// (``ActivityRecord/throttleSeconds``), so a shorter timeout could stop a workspace someone is typing in.
    public static let idleTimeoutRange = 60.0...(365 * 86400)

    public init(owner: String? = nil, name: String, limits: ResourceLimits = ResourceLimits(), idleTimeoutSeconds: Double? = nil) {
        self.owner = owner
        self.name = name
        self.limits = limits
        self.idleTimeoutSeconds = idleTimeoutSeconds
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        owner = try container.decodeIfPresent(String.self, forKey: .owner)
        name = try container.decode(String.self, forKey: .name)
        limits = try container.decodeIfPresent(ResourceLimits.self, forKey: .limits) ?? ResourceLimits()
        idleTimeoutSeconds = try container.decodeIfPresent(Double.self, forKey: .idleTimeoutSeconds)
    }

    /// The idle timeout asked for, if it is one: 0, or within ``idleTimeoutRange``.
    public static func checkedIdleTimeout(_ seconds: Double?) throws(RequestError) -> Double? {
        guard let seconds else { return nil }
        guard seconds.isFinite, seconds == 0 || idleTimeoutRange.contains(seconds) else {
            throw .badRequest("an idle timeout is 0 (never) or from 1min to 365d (activity is recorded at most every 30 s); got \(seconds) s")
        }
        return seconds
    }

    public var target: WorkspaceTarget { WorkspaceTarget(owner: owner, name: name) }
}

/// `logs`: the unit's journal.
public struct LogsParams: Codable, Sendable, Equatable {
    public var owner: String?
    public var name: String
    /// How many earlier entries to show first.
    public var lines: Int
    /// Keep streaming new entries until the client goes away.
    public var follow: Bool
    /// How many earlier entries a request may ask for.
    public static let linesRange = 0...10_000

    public init(owner: String? = nil, name: String, lines: Int = 50, follow: Bool = false) {
        self.owner = owner
        self.name = name
        self.lines = lines
        self.follow = follow
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        owner = try container.decodeIfPresent(String.self, forKey: .owner)
        name = try container.decode(String.self, forKey: .name)
        lines = try container.decodeIfPresent(Int.self, forKey: .lines) ?? 50
        follow = try container.decodeIfPresent(Bool.self, forKey: .follow) ?? false
    }

    public var target: WorkspaceTarget { WorkspaceTarget(owner: owner, name: name) }
}

/// A workspace with its state: the stored definition, what systemd says, and the limits in force.
public struct WorkspaceInfo: Codable, Sendable, Equatable {
    public var definition: WorkspaceDefinition
    public var unit: String
    /// `running`, `starting`, `stopping`, `stopped` or `failed`.
    public var state: String
    /// systemd's view (live usage and limits) while the unit is loaded.
    public var unitStatus: UnitStatus?
    /// Limits the unit gets on its next start (and has now, unless changed outside Studio).
    public var limits: ResourceLimits
    public var agentSocket: String
    /// The idle timeout in force (its own, else its template's, else `[Idle] Timeout=`); 0: never.
    public var idleTimeoutSeconds: Double
    /// studio-idled's view while it runs: last activity, what keeps it up, when it stops; nil when it has not
    /// looked yet or is not running.
    public var idle: IdleStatus?
    /// Set when it was last stopped for idleness (until it starts again).
    public var idleStop: IdleStop?
    /// `host` or `container` (its template's; nil when the template has gone).
    public var backend: Template.Backend?
    /// A container workspace's image.
    public var image: String?
    /// The agent's host pid while it runs: the unit's main process on the host backend, nspawn's child (PID 1
    /// inside) in a container. studio-idled trusts activity records from this pid only.
    public var agentPID: UInt32?

    public init(
        definition: WorkspaceDefinition, unitStatus: UnitStatus?, limits: ResourceLimits, idleTimeoutSeconds: Double = 0,
        idle: IdleStatus? = nil, backend: Template.Backend? = nil, image: String? = nil, agentPID: UInt32? = nil
    ) {
        self.definition = definition
        self.unit = definition.identity.unitName
        self.unitStatus = unitStatus
        self.limits = limits
        self.agentSocket = definition.identity.agentSocket
        self.idleTimeoutSeconds = idleTimeoutSeconds
        self.idleStop = definition.idleStop
        self.state = switch unitStatus?.activeState {
        case "active", "reloading": "running"
        case "activating": "starting"
        case "deactivating": "stopping"
        case "failed": "failed"
        default: "stopped"
        }
        self.idle = state == "running" ? idle : nil
        self.backend = backend
        self.image = image
        self.agentPID = state == "running" ? agentPID : nil
    }
}

/// The answer to `start`, `restart` and `create`.
public struct StartResult: Codable, Sendable, Equatable {
    public var workspace: WorkspaceInfo
    /// The workspace did not exist and was created by this request.
    public var created: Bool
    /// It was running already; nothing was started.
    public var alreadyRunning: Bool

    public init(workspace: WorkspaceInfo, created: Bool, alreadyRunning: Bool) {
        self.workspace = workspace
        self.created = created
        self.alreadyRunning = alreadyRunning
    }
}

/// The answer to `list`.
public struct WorkspaceList: Codable, Sendable, Equatable {
    public var workspaces: [WorkspaceInfo]

    public init(workspaces: [WorkspaceInfo]) {
        self.workspaces = workspaces
    }
}

/// The answer to `templates`.
public struct TemplateList: Codable, Sendable, Equatable {
    public var templates: [Template]
    public var defaultTemplate: String

    public init(templates: [Template], defaultTemplate: String) {
        self.templates = templates
        self.defaultTemplate = defaultTemplate
    }
}

/// One journal entry streamed by `logs`.
public struct LogLine: Codable, Sendable, Equatable {
    /// Microseconds since the epoch.
    public var time: UInt64
    public var priority: Int
    public var identifier: String
    public var pid: String
    public var message: String

    public init(time: UInt64, priority: Int, identifier: String, pid: String, message: String) {
        self.time = time
        self.priority = priority
        self.identifier = identifier
        self.pid = pid
        self.message = message
    }
}

/// The last answer of a `logs` stream that is not followed.
public struct LogsEnd: Codable, Sendable, Equatable {
    public var end: Bool

    public init() { end = true }
}

/// The answer to `stop` and `delete`.
public struct Done: Codable, Sendable, Equatable {
    /// What happened, in a sentence.
    public var message: String

    public init(_ message: String) {
        self.message = message
    }
}

/// Parameters of `reset`: drop a stopped container workspace's own layer (what root installed), and with `home`
/// its home too; the project directory is never touched.
public struct ResetParams: Codable, Sendable, Equatable {
    public var target: WorkspaceTarget
    public var home: Bool?

    public init(target: WorkspaceTarget, home: Bool? = nil) {
        self.target = target
        self.home = home
    }
}
