import StudioCore

/// The pure half of `SystemdUnitManager`: what is sent to systemd and how its answers are read. No I/O here, so
/// all of it is checked by unit tests.
extension SystemdUnitManager {
    /// The `a(sv)` for `StartTransientUnit` of a workspace service.
    public func transientProperties(for spec: TransientServiceSpec) -> [BusProperty] {
        var properties = [
            BusProperty("Description", .string(spec.description)),
            BusProperty("Slice", .string(spec.slice)),
            BusProperty("User", .string(spec.user)),
            BusProperty("WorkingDirectory", .string(spec.workingDirectory)),
            BusProperty("ExecStart", .commands([BusExecCommand(path: spec.argv.first ?? "", argv: spec.argv)])),
            BusProperty("Type", .string(spec.stringProperties["Type"] ?? (spec.notifyReady ? "notify" : "exec"))),
            // Only the agent itself may say READY=1 / STATUS=, not whatever runs in the workspace.
            BusProperty("NotifyAccess", .string("main")),
            // A failed or stopped workspace unit is unloaded at once: it does not linger as "failed" and keep
            // its name from being started again. Why it failed stays in the journal.
            BusProperty("CollectMode", .string("inactive-or-failed")),
            BusProperty("TimeoutStartUSec", .uint64(BusConnection.microseconds(startTimeout))),
            BusProperty("TimeoutStopUSec", .uint64(BusConnection.microseconds(stopTimeout))),
        ]
        if !spec.environment.isEmpty {
            let assignments = spec.environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            properties.append(BusProperty("Environment", .strings(assignments)))
        }
        properties += Self.limitProperties(spec.limits)
        for (name, value) in spec.booleanProperties.sorted(by: { $0.key < $1.key }) {
            properties.append(BusProperty(name, .bool(value)))
        }
        for (name, value) in spec.stringProperties.sorted(by: { $0.key < $1.key }) where name != "Type" {
            properties.append(BusProperty(name, .string(value)))
        }
        if let fd = spec.standardInput {
            // With a descriptor on stdin, systemd's default for stdout/stderr is "inherit" (the socket): say journal.
            properties += [
                BusProperty("StandardInputFileDescriptor", .fileDescriptor(fd)),
                BusProperty("StandardOutput", .string("journal")),
                BusProperty("StandardError", .string("journal")),
            ]
        }
        return properties
    }

    /// The cgroup properties for the limits that are set, in systemd's D-Bus units (all `t`).
    public static func limitProperties(_ limits: ResourceLimits) -> [BusProperty] {
        let values: [(String, UInt64?)] = [
            ("MemoryMax", limits.memoryMaxBytes),
            ("MemoryHigh", limits.memoryHighBytes),
            ("CPUQuotaPerSecUSec", limits.cpuQuotaPerSecMicroseconds),
            ("CPUWeight", limits.cpuWeight),
            ("TasksMax", limits.tasksMax),
            ("IOWeight", limits.ioWeight),
        ]
        return values.compactMap { name, value in value.map { BusProperty(name, .uint64($0)) } }
    }

    /// The D-Bus interface with a unit's type-specific properties: `a.service` → `org.freedesktop.systemd1.Service`.
    static func typeInterface(of unitName: String) -> String? {
        guard let dot = unitName.lastIndex(of: "."), unitName.index(after: dot) < unitName.endIndex else { return nil }
        let suffix = unitName[unitName.index(after: dot)...]
        return "org.freedesktop.systemd1." + suffix.prefix(1).uppercased() + suffix.dropFirst()
    }

    /// A `UnitStatus` from the properties of the Unit interface and of the type-specific one (`Service`, `Slice`,
    /// …). systemd's `UINT64_MAX` ("infinity" for limits, "not known" for usage) becomes nil.
    static func unitStatus(name: String, unit: [String: BusValue], typeSpecific: [String: BusValue]) -> UnitStatus {
        func string(_ key: String, _ properties: [String: BusValue]) -> String? {
            if case .string(let value)? = properties[key] { return value }
            return nil
        }
        func finite(_ key: String) -> UInt64? { typeSpecific[key]?.finiteUInt64 }
        var mainPID: UInt32 = 0
        if case .uint32(let pid)? = typeSpecific["MainPID"] { mainPID = pid }
        let activeEnter = unit["ActiveEnterTimestamp"]?.finiteUInt64.flatMap { $0 == 0 ? nil : $0 }
        let limits = ResourceLimits(
            memoryMaxBytes: finite("MemoryMax"),
            memoryHighBytes: finite("MemoryHigh"),
            cpus: finite("CPUQuotaPerSecUSec").map { Double($0) / 1_000_000 },
            cpuWeight: finite("CPUWeight"),
            tasksMax: finite("TasksMax"),
            ioWeight: finite("IOWeight"))
        return UnitStatus(
            name: name,
            activeState: string("ActiveState", unit) ?? "unknown",
            subState: string("SubState", unit) ?? "unknown",
            result: string("Result", typeSpecific) ?? "success",
            mainPID: mainPID,
            memoryCurrentBytes: finite("MemoryCurrent"),
            cpuUsageNanoseconds: finite("CPUUsageNSec"),
            tasksCurrent: finite("TasksCurrent"),
            activeEnterRealtimeMicroseconds: activeEnter,
            limits: limits)
    }
}

/// What the signals of one unit told us while we waited on its job.
struct ObservedUnitState: Equatable {
    var activeState: String?
    var subState: String?
    var result: String?
    /// `ExecMainCode`: `CLD_EXITED` (1), `CLD_KILLED` (2), `CLD_DUMPED` (3), 0 if the main process never ran.
    var execMainCode: Int32?
    var execMainStatus: Int32?

    /// Takes in a `PropertiesChanged` (or `GetAll`) of the Unit or the type-specific interface.
    mutating func merge(_ properties: [String: BusValue]) {
        if case .string(let value)? = properties["ActiveState"] { activeState = value }
        if case .string(let value)? = properties["SubState"] { subState = value }
        if case .string(let value)? = properties["Result"] { result = value }
        if case .int32(let value)? = properties["ExecMainCode"] { execMainCode = value }
        if case .int32(let value)? = properties["ExecMainStatus"] { execMainStatus = value }
    }

    /// Whether the unit has come to rest after a failed start (so its `Result` is final).
    var isSettled: Bool { activeState == "failed" || activeState == "inactive" }

    /// How the main process ended, in words, when known: "exited with status 1", "was killed by signal 9",
    /// "could not execute the program (203/EXEC)".
    var mainProcessOutcome: String? {
        guard let code = execMainCode, let status = execMainStatus, code != 0 else { return nil }
        switch code {
        case 1:
            if let step = Self.exitStatusMeanings[status] { return "\(step) (\(status)/\(Self.exitStatusNames[status] ?? "?"))" }
            return "exited with status \(status)"
        case 2: return "was killed by signal \(status)"
        case 3: return "dumped core (signal \(status))"
        default: return nil
        }
    }

    /// systemd's own exit statuses (systemd.exec(5), "Process Exit Codes") that a workspace start can hit.
    static let exitStatusNames: [Int32: String] = [
        200: "CHDIR", 203: "EXEC", 204: "MEMORY", 214: "SETSCHEDULER", 216: "GROUP", 217: "USER",
        218: "CAPABILITIES", 219: "CGROUP", 224: "PAM", 226: "NAMESPACE", 233: "RUNTIME_DIRECTORY",
    ]
    static let exitStatusMeanings: [Int32: String] = [
        200: "could not change to the working directory",
        203: "could not execute the program",
        204: "ran out of memory while setting up",
        214: "could not set the scheduling policy",
        216: "could not set the group",
        217: "could not become its user",
        218: "could not set capabilities",
        219: "could not set up the cgroup",
        224: "PAM session setup failed",
        226: "could not set up its file system namespace",
        233: "could not create the runtime directory",
    ]
}
