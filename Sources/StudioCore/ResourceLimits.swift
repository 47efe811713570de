/// A workspace unit's cgroup limits, in systemd's units. nil means "not set" (no limit / systemd's default).
public struct ResourceLimits: Codable, Sendable, Equatable {
    /// `MemoryMax=`: the hard cap, in bytes; the kernel's OOM killer acts inside the workspace above it.
    public var memoryMaxBytes: UInt64?
    /// `MemoryHigh=`: reclaim pressure starts here, in bytes.
    public var memoryHighBytes: UInt64?
    /// `CPUQuota=` as CPUs: 1.5 means one and a half CPUs' worth of time.
    public var cpus: Double?
    /// `CPUWeight=` (1–10000, systemd's default 100): share under contention.
    public var cpuWeight: UInt64?
    /// `TasksMax=`: processes and threads.
    public var tasksMax: UInt64?
    /// `IOWeight=` (1–10000, default 100).
    public var ioWeight: UInt64?

    public init(
        memoryMaxBytes: UInt64? = nil, memoryHighBytes: UInt64? = nil, cpus: Double? = nil,
        cpuWeight: UInt64? = nil, tasksMax: UInt64? = nil, ioWeight: UInt64? = nil
    ) {
        self.memoryMaxBytes = memoryMaxBytes
        self.memoryHighBytes = memoryHighBytes
        self.cpus = cpus
        self.cpuWeight = cpuWeight
        self.tasksMax = tasksMax
        self.ioWeight = ioWeight
    }

    /// `CPUQuotaPerSecUSec`, the D-Bus form of `CPUQuota=`: microseconds of CPU time per second.
    public var cpuQuotaPerSecMicroseconds: UInt64? {
        // Never traps: a value out of range (refused where it enters) becomes the nearest one systemd takes.
        cpus.map { cpus in
            let value = (cpus * 1_000_000).rounded()
            return value.isNaN || value < 1 ? 1 : value >= 1.8e19 ? UInt64.max - 1 : UInt64(value)
        }
    }

    /// Values from `other` where it sets them, else ours.
    public func overridden(by other: ResourceLimits) -> ResourceLimits {
        ResourceLimits(
            memoryMaxBytes: other.memoryMaxBytes ?? memoryMaxBytes,
            memoryHighBytes: other.memoryHighBytes ?? memoryHighBytes,
            cpus: other.cpus ?? cpus,
            cpuWeight: other.cpuWeight ?? cpuWeight,
            tasksMax: other.tasksMax ?? tasksMax,
            ioWeight: other.ioWeight ?? ioWeight)
    }
}

/// What a transient workspace service is made of, handed to `UnitManager.startTransientService`.
public struct TransientServiceSpec: Sendable, Equatable {
    /// e.g. `studio-ws-alice-myproject.service`.
    public var name: String
    public var description: String
    /// e.g. `studio-alice.slice`.
    public var slice: String
    /// The user the service runs as.
    public var user: String
    public var workingDirectory: String
    /// argv; `argv[0]` is an absolute path.
    public var argv: [String]
    public var environment: [String: String]
    public var limits: ResourceLimits
    /// Boolean sandboxing properties (`PrivateTmp`, `ProtectKernelTunables`, …) and their values.
    public var booleanProperties: [String: Bool]
    /// String-valued properties (`ProtectProc=invisible`, …).
    public var stringProperties: [String: String]
    /// `Type=notify`: the start finishes when the program says READY=1.
    public var notifyReady: Bool
    /// A descriptor the service gets as its standard input (a listening socket the broker bound); its output
    /// then goes to the journal. The caller keeps its own copy and closes it after the start.
    public var standardInput: Int32?

    public init(
        name: String, description: String, slice: String, user: String, workingDirectory: String, argv: [String],
        environment: [String: String] = [:], limits: ResourceLimits = ResourceLimits(),
        booleanProperties: [String: Bool] = [:], stringProperties: [String: String] = [:], notifyReady: Bool = true,
        standardInput: Int32? = nil
    ) {
        self.name = name
        self.description = description
        self.slice = slice
        self.user = user
        self.workingDirectory = workingDirectory
        self.argv = argv
        self.environment = environment
        self.limits = limits
        self.booleanProperties = booleanProperties
        self.stringProperties = stringProperties
        self.notifyReady = notifyReady
        self.standardInput = standardInput
    }
}

/// A unit's state and live usage, as systemd reports it.
public struct UnitStatus: Codable, Sendable, Equatable {
    public var name: String
    /// `active`, `activating`, `deactivating`, `inactive`, `failed`.
    public var activeState: String
    public var subState: String
    /// The service's `Result` (`success`, `exit-code`, `oom-kill`, …).
    public var result: String
    public var mainPID: UInt32
    /// nil when systemd does not know (accounting off, or not running).
    public var memoryCurrentBytes: UInt64?
    public var cpuUsageNanoseconds: UInt64?
    public var tasksCurrent: UInt64?
    /// Processes the kernel's OOM killer ended inside the unit since it started (cgroup v2's `memory.events`);
    /// nil where the kernel does not count (cgroup v1).
    public var oomKills: UInt64?
    /// When it last became active, microseconds since the epoch; nil if never.
    public var activeEnterRealtimeMicroseconds: UInt64?
    /// Its cgroup (`ControlGroup`, e.g. `/studio.slice/studio-alice.slice/studio-ws-alice-web.service`), while running.
    public var controlGroup: String?
    /// The limits in force.
    public var limits: ResourceLimits

    public init(
        name: String, activeState: String, subState: String, result: String = "success", mainPID: UInt32 = 0,
        memoryCurrentBytes: UInt64? = nil, cpuUsageNanoseconds: UInt64? = nil, tasksCurrent: UInt64? = nil,
        activeEnterRealtimeMicroseconds: UInt64? = nil, limits: ResourceLimits = ResourceLimits()
    ) {
        self.name = name
        self.activeState = activeState
        self.subState = subState
        self.result = result
        self.mainPID = mainPID
        self.memoryCurrentBytes = memoryCurrentBytes
        self.cpuUsageNanoseconds = cpuUsageNanoseconds
        self.tasksCurrent = tasksCurrent
        self.activeEnterRealtimeMicroseconds = activeEnterRealtimeMicroseconds
        self.limits = limits
    }

    /// Running or on its way there.
    public var isRunning: Bool { activeState == "active" || activeState == "activating" || activeState == "reloading" }
}

/// A failure talking to systemd, with its D-Bus error name when there is one.
public struct UnitManagerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// e.g. `org.freedesktop.systemd1.NoSuchUnit`, or empty.
    public var name: String
    public var message: String

    public init(name: String = "", message: String) {
        self.name = name
        self.message = message
    }

    public var description: String { message }
}

/// Starts, stops, inspects and changes systemd units. The real one speaks D-Bus (StudioSystemd's
/// `SystemdUnitManager`); tests use a double.
public protocol UnitManager: Sendable {
    /// Starts a transient service and returns once it is active (for `Type=notify`, once it said READY=1);
    /// throws with systemd's reason when it fails to start, leaving no failed unit behind.
    func startTransientService(_ spec: TransientServiceSpec) async throws(UnitManagerError)
    /// Stops a unit and returns once it is inactive; stopping a unit that is not loaded is not an error.
    func stopUnit(_ name: String) async throws(UnitManagerError)
    /// The unit's state, or nil when systemd has no such unit loaded.
    func status(of name: String) async throws(UnitManagerError) -> UnitStatus?
    /// Changes limits on a loaded unit at run time (`SetUnitProperties`, runtime only: the next start takes its
    /// limits from the spec again).
    func setLimits(_ limits: ResourceLimits, on name: String) async throws(UnitManagerError)
    /// Forgets a failed unit (`ResetFailedUnit`), so that the name can be started again.
    func resetFailed(_ name: String) async throws(UnitManagerError)
}
