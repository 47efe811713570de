#if canImport(Glibc)
import Glibc
#endif

/// What this machine has: no workspace may be given more memory or CPUs than that, ceiling or not.
public struct HostResources: Sendable, Equatable {
    public var memoryBytes: UInt64
    public var cpus: Double

    public init(memoryBytes: UInt64, cpus: Double) {
        self.memoryBytes = memoryBytes
        self.cpus = cpus
    }

    /// Physical memory and online CPUs, from the kernel.
    public static func current() -> HostResources {
        let pages = UInt64(max(0, sysconf(Int32(_SC_PHYS_PAGES))))
        let pageSize = UInt64(max(0, sysconf(Int32(_SC_PAGESIZE))))
        let cpus = Double(max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        return HostResources(memoryBytes: pages * pageSize, cpus: cpus)
    }
}
