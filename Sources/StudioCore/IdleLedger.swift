/// What studio-idled believes about each running workspace, and from which journal entries: the whole of its state,
/// rebuilt by reading the journal back when it starts. Without I/O, so that the trust rules are unit-tested.
///
/// An entry counts only by the fields journald itself adds, which no local user can forge:
/// - an activity record from a workspace's unit (`_SYSTEMD_UNIT`) counts only when journald saw the agent write it
///   (`_PID` = the agent's host pid: the unit's `MainPID` on the host backend, nspawn's child in a container, as the
///   broker reports it), after the unit started: a `logger` inside the workspace has another PID, and a user's
///   process elsewhere is in another unit;
/// - an activity record from studiod counts only from `studiod.service` running as the `studio` user;
/// - `keep` only from the broker (`studio-sandbox.service`, uid 0), which checked who asked;
/// - work records only from studio-idled's own unit and user.
public struct IdleLedger: Sendable {
    /// A running workspace as the broker and systemd describe it.
    public struct Running: Sendable, Equatable {
        public var owner: String
        public var name: String
        public var unit: String
        public var timeoutSeconds: Double
        /// When the unit last became active (seconds since the epoch).
        public var startedAt: Double
        /// The agent's host pid (named for the host backend, where it is the unit's main process).
        public var mainPID: UInt32

        public init(owner: String, name: String, unit: String, timeoutSeconds: Double, startedAt: Double, mainPID: UInt32) {
            self.owner = owner
            self.name = name
            self.unit = unit
            self.timeoutSeconds = timeoutSeconds
            self.startedAt = startedAt
            self.mainPID = mainPID
        }
    }

    /// What has been learned about one running workspace since it started.
    public struct Workspace: Sendable, Equatable {
        public var running: Running
        public var lastActivity: Double?
        public var lastActivitySource: ActivitySource?
        public var lastWork: Double?
        public var busy = false
        public var keepUntil: Double?
        /// The previous CPU reading: (seconds since the epoch, CPU nanoseconds so far).
        public var lastSample: (time: Double, cpuNanoseconds: UInt64)?

        public init(running: Running) { self.running = running }

        public static func == (a: Workspace, b: Workspace) -> Bool {
            a.running == b.running && a.lastActivity == b.lastActivity && a.lastActivitySource == b.lastActivitySource
                && a.lastWork == b.lastWork && a.busy == b.busy && a.keepUntil == b.keepUntil
                && a.lastSample?.time == b.lastSample?.time && a.lastSample?.cpuNanoseconds == b.lastSample?.cpuNanoseconds
        }

        public var timeline: IdleTimeline {
            IdleTimeline(
                startedAt: running.startedAt, lastInteraction: lastActivity, lastWork: lastWork, keepUntil: keepUntil,
                timeoutSeconds: running.timeoutSeconds)
        }

        /// As `status` shows it.
        public func status(cpuMeasure: String?) -> IdleStatus {
            let verdict = timeline.verdict()
            return IdleStatus(
                lastActivity: lastActivity, lastActivitySource: lastActivitySource, lastWork: lastWork, busy: busy,
                keepUntil: keepUntil, keptBy: verdict.reason, idleSince: verdict.lastSign, stopAt: verdict.stopAt, cpuMeasure: cpuMeasure)
        }
    }

    /// What one journal entry did.
    public enum Outcome: Sendable, Equatable {
        /// A person's activity on this unit.
        case interaction(String)
        /// A keep was set or ended on this unit.
        case keep(String)
        /// A work record of studio-idled (while reading back) for this unit.
        case work(String)
        /// The broker started, stopped, changed or deleted this workspace (owner and name; nil when the entry does not
        /// say): its state is to be read again before the next entry counts.
        case lifecycle(owner: String?, name: String?)
        /// Claims to be from a workspace this ledger does not know (yet) as running with that main process: worth
        /// trying again after reading the list again.
        case unverified
        /// Not believed, and why.
        case ignored(String)
    }

    public static let studiodUnit = "studiod.service"
    public static let brokerUnit = "studio-sandbox.service"
    public static let idledUnit = "studio-idled.service"
    /// The broker's audit events after which the list of running workspaces is read again.
    public static let lifecycleEvents: Set<String> = [
        AuditEvent.workspaceCreate.rawValue, AuditEvent.workspaceStart.rawValue, AuditEvent.workspaceStop.rawValue,
        AuditEvent.workspaceDelete.rawValue, AuditEvent.workspaceLimits.rawValue,
    ]
    /// Every `STUDIO_EVENT=` value studio-idled reads.
    public static var followedEvents: [String] {
        [ActivityRecord.event, ActivityRecord.workEvent, AuditEvent.workspaceKeep.rawValue] + lifecycleEvents.sorted()
    }

    /// The `studio` user's uid (studiod's records) and studio-idled's own.
    public let studioUID: UInt32?
    public let idledUID: UInt32?
    /// By unit name.
    public private(set) var workspaces: [String: Workspace] = [:]

    public init(studioUID: UInt32?, idledUID: UInt32?) {
        self.studioUID = studioUID
        self.idledUID = idledUID
    }

    /// Takes the running workspaces as they are now: what was learned is kept for a unit that is still the same
    /// run (same start time); a new run starts afresh; a workspace no longer running is forgotten.
    public mutating func update(running: [Running]) {
        var next: [String: Workspace] = [:]
        for item in running {
            if var known = workspaces[item.unit], known.running.startedAt == item.startedAt {
                known.running = item
                next[item.unit] = known
            } else {
                next[item.unit] = Workspace(running: item)
            }
        }
        workspaces = next
    }

    /// Takes one workspace's state as it is now (nil: not running, or gone), as ``update(running:)`` does for all.
    public mutating func update(unit: String, running: Running?) {
        guard let running else {
            workspaces[unit] = nil
            return
        }
        if var known = workspaces[unit], known.running.startedAt == running.startedAt {
            known.running = running
            workspaces[unit] = known
        } else {
            workspaces[unit] = Workspace(running: running)
        }
    }

    /// Learns from one journal entry, written at `time` (seconds since the epoch). `replaying`: read back at start
    /// (studio-idled's own work records count only then; while it runs it measures).
    @discardableResult
    public mutating func ingest(_ fields: [String: String], time: Double, replaying: Bool = false) -> Outcome {
        let event = fields[ActivityRecord.eventField] ?? ""
        let unit = fields["_SYSTEMD_UNIT"] ?? ""
        let uid = fields["_UID"].flatMap { UInt32($0) }
        switch event {
        case ActivityRecord.event:
            guard let source = fields[ActivityRecord.sourceField].flatMap(ActivitySource.init(rawValue:)) else {
                return .ignored("an activity record without a known source")
            }
            let target: String
            if unit == Self.studiodUnit {
                guard let studioUID, uid == studioUID else { return .ignored("from studiod.service but not as the studio user") }
                guard let found = self.unit(owner: fields[ActivityRecord.userField], name: fields[ActivityRecord.workspaceField]) else {
                    return .ignored("studiod's record names no running workspace")
                }
                target = found
            } else if unit.hasPrefix(WorkspaceIdentity.unitPrefix) {
                guard let known = workspaces[unit], known.running.mainPID != 0,
                      fields["_PID"].flatMap({ UInt32($0) }) == known.running.mainPID, time >= known.running.startedAt
                else { return .unverified }
                target = unit
            } else {
                return .ignored("activity records count only from a workspace's agent or from studiod")
            }
            if time >= (workspaces[target]?.lastActivity ?? 0) {
                workspaces[target]?.lastActivity = time
                workspaces[target]?.lastActivitySource = source
            }
            return .interaction(target)
        case AuditEvent.workspaceKeep.rawValue:
            guard unit == Self.brokerUnit, uid == 0 else { return .ignored("keep counts only from the broker") }
            guard fields["STUDIO_RESULT"] == "success" else { return .ignored("a keep that failed") }
            guard let target = self.unit(owner: fields[ActivityRecord.userField], name: fields[ActivityRecord.workspaceField]),
                  let workspace = workspaces[target], time >= workspace.running.startedAt,
                  let until = fields[ActivityRecord.keepUntilField].flatMap(Double.init)
            else { return .ignored("a keep for no running workspace") }
            workspaces[target]?.keepUntil = until > time ? until : nil
            return .keep(target)
        case ActivityRecord.workEvent:
            guard unit == Self.idledUnit, let idledUID, uid == idledUID else { return .ignored("work records count only from studio-idled") }
            guard replaying else { return .ignored("studio-idled's own record, read back while it measures") }
            guard let target = fields[ActivityRecord.unitField], let workspace = workspaces[target], time >= workspace.running.startedAt else {
                return .ignored("a work record for no running workspace")
            }
            if fields[ActivityRecord.busyField] == "1" {
                workspaces[target]?.busy = true
                workspaces[target]?.lastWork = max(workspace.lastWork ?? 0, time)
            } else {
                workspaces[target]?.busy = false
                let end = fields[ActivityRecord.lastWorkField].flatMap(Double.init) ?? time
                workspaces[target]?.lastWork = max(workspace.lastWork ?? 0, min(end, time))
            }
            return .work(target)
        default:
            if unit == Self.brokerUnit, uid == 0, fields["STUDIO_AUDIT"] == "1", Self.lifecycleEvents.contains(event) {
                return .lifecycle(owner: fields[ActivityRecord.userField], name: fields[ActivityRecord.workspaceField])
            }
            return .ignored("not an idle record")
        }
    }

    /// After reading the journal back: a workspace whose last work record says it was still working is taken to
    /// have worked until now (the next reading tells), so that a restart never stops one early.
    public mutating func finishReplay(now: Double) {
        for (unit, workspace) in workspaces where workspace.busy {
            workspaces[unit]?.lastWork = max(workspace.lastWork ?? 0, now)
        }
    }

    /// A change of a workspace's work, for studio-idled to record in the journal.
    public enum WorkChange: Sendable, Equatable {
        case began
        /// With the end of the last busy window.
        case ended(lastWork: Double)
    }

    /// Takes a reading of the unit's CPU time; a window above `threshold` CPUs is work.
    @discardableResult
    public mutating func sample(unit: String, time: Double, cpuNanoseconds: UInt64?, threshold: Double) -> WorkChange? {
        guard var workspace = workspaces[unit] else { return nil }
        defer { workspaces[unit] = workspace }
        guard let cpuNanoseconds else {
            workspace.lastSample = nil
            return nil
        }
        let previous = workspace.lastSample
        workspace.lastSample = (time, cpuNanoseconds)
        guard let previous else { return nil }
        let busy = BusyMeter.busy(previous: previous, current: (time, cpuNanoseconds), threshold: threshold)
        let was = workspace.busy
        workspace.busy = busy
        if busy { workspace.lastWork = time }
        if busy, !was { return .began }
        if !busy, was { return .ended(lastWork: workspace.lastWork ?? previous.time) }
        return nil
    }

    /// The unit of a running workspace.
    public func unit(owner: String?, name: String?) -> String? {
        guard let owner, let name else { return nil }
        return workspaces.values.first { $0.running.owner == owner && $0.running.name == name }?.running.unit
    }
}
