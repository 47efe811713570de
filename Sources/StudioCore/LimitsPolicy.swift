/// How a workspace's limits are worked out: config defaults, then the template, then the workspace's own settings;
/// the administrator's ceilings bound all of them, and where the administrator set none, the machine's own size
/// bounds memory and CPUs.
public struct LimitsPolicy: Sendable, Equatable {
    public var defaults: ResourceLimits
    public var ceilings: ResourceLimits
    /// The machine, for the memory and CPU ceilings the administrator left unset.
    public var host: HostResources?

    public init(defaults: ResourceLimits, ceilings: ResourceLimits, host: HostResources? = nil) {
        self.defaults = defaults
        self.ceilings = ceilings
        self.host = host
        if let host {
            self.ceilings.memoryMaxBytes = ceilings.memoryMaxBytes ?? host.memoryBytes
            self.ceilings.cpus = ceilings.cpus ?? host.cpus
        }
    }

    public init(config: StudioConfig, host: HostResources? = .current()) {
        self.init(defaults: config.defaultLimits, ceilings: config.ceilings, host: host)
    }

    /// Refuses what a user asks for above a ceiling, naming the limit and the ceiling.
    public func check(requested: ResourceLimits) throws(WorkspaceError) {
        try requested.checkRanges()
        func over<T: Comparable>(_ name: String, _ value: T?, _ ceiling: T?, _ show: (T) -> String) throws(WorkspaceError) {
            if let value, let ceiling, value > ceiling {
                throw .limitAboveCeiling(limit: name, requested: show(value), ceiling: show(ceiling))
            }
        }
        if let host, let memory = requested.memoryMaxBytes, memory > host.memoryBytes, ceilings.memoryMaxBytes == host.memoryBytes {
            throw .limitAboveMachine(limit: "memory", requested: ByteSize.format(memory), machine: ByteSize.format(host.memoryBytes))
        }
        if let host, let cpus = requested.cpus, cpus > host.cpus, ceilings.cpus == host.cpus {
            throw .limitAboveMachine(limit: "cpus", requested: Self.formatCPUs(cpus), machine: Self.formatCPUs(host.cpus))
        }
        try over("memory", requested.memoryMaxBytes, ceilings.memoryMaxBytes, ByteSize.format)
        try over("memory high", requested.memoryHighBytes, ceilings.memoryMaxBytes, ByteSize.format)
        try over("cpus", requested.cpus, ceilings.cpus, { Self.formatCPUs($0) })
        try over("cpu weight", requested.cpuWeight, ceilings.cpuWeight, { "\($0)" })
        try over("tasks", requested.tasksMax, ceilings.tasksMax, { "\($0)" })
        try over("io weight", requested.ioWeight, ceilings.ioWeight, { "\($0)" })
    }

    /// The limits a unit gets. Admin-provided values (defaults, template) above a ceiling are lowered to it;
    /// `MemoryHigh` defaults to 90 % of `MemoryMax`, where reclaim starts before the hard stop.
    public func effective(template: ResourceLimits, workspace: ResourceLimits) -> ResourceLimits {
        var limits = defaults.overridden(by: template).overridden(by: workspace)
        limits.memoryMaxBytes = Self.lower(limits.memoryMaxBytes, ceilings.memoryMaxBytes)
        limits.cpus = Self.lower(limits.cpus, ceilings.cpus)
        limits.cpuWeight = Self.lower(limits.cpuWeight, ceilings.cpuWeight)
        limits.tasksMax = Self.lower(limits.tasksMax, ceilings.tasksMax)
        limits.ioWeight = Self.lower(limits.ioWeight, ceilings.ioWeight)
        if let max = limits.memoryMaxBytes {
            limits.memoryHighBytes = Swift.min(limits.memoryHighBytes ?? max / 10 * 9, max)
        }
        return limits
    }

    static func lower<T: Comparable>(_ value: T?, _ ceiling: T?) -> T? {
        guard let ceiling else { return value }
        return Swift.min(value ?? ceiling, ceiling)
    }

    /// `2`, `1.5`: CPUs without a needless `.0`.
    public static func formatCPUs(_ cpus: Double) -> String {
        cpus == cpus.rounded() && abs(cpus) < 1e15 ? "\(Int(cpus))" : "\(cpus)"
    }
}
