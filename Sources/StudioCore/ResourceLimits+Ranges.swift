/// The values a limit may take, wherever it enters: a request to the broker, studio.conf, a template. A value
/// outside them is refused where it enters, so that nothing later (the store, systemd's properties) ever sees it.
extension ResourceLimits {
    /// `MemoryMax`/`MemoryHigh`: 16 MiB (less cannot run the agent) to 1 PiB.
    public static let memoryRange: ClosedRange<UInt64> = (16 << 20)...(1 << 50)
    /// `CPUs`: a hundredth of a CPU to 1024 CPUs.
    public static let cpusRange: ClosedRange<Double> = 0.01...1024
    /// `CPUWeight`, `IOWeight`: systemd's own range.
    public static let weightRange: ClosedRange<UInt64> = 1...10_000
    /// `TasksMax`: enough for the agent and a shell, up to the kernel's largest pid_max.
    public static let tasksRange: ClosedRange<UInt64> = 16...4_194_304

    /// Refuses any value outside its range, naming the limit, the value and the range.
    public func checkRanges() throws(WorkspaceError) {
        func check(_ name: String, _ value: UInt64?, _ range: ClosedRange<UInt64>, _ show: (UInt64) -> String) throws(WorkspaceError) {
            if let value, !range.contains(value) {
                throw .limitOutOfRange(limit: name, value: show(value), range: "\(show(range.lowerBound)) to \(show(range.upperBound))")
            }
        }
        try check("memory", memoryMaxBytes, Self.memoryRange, ByteSize.format)
        try check("memory high", memoryHighBytes, Self.memoryRange, ByteSize.format)
        if let cpus, !(cpus.isFinite && Self.cpusRange.contains(cpus)) {
            throw .limitOutOfRange(limit: "cpus", value: LimitsPolicy.formatCPUs(cpus), range: "0.01 to 1024")
        }
        try check("cpu weight", cpuWeight, Self.weightRange, { "\($0)" })
        try check("tasks", tasksMax, Self.tasksRange, { "\($0)" })
        try check("io weight", ioWeight, Self.weightRange, { "\($0)" })
    }
}
