#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// Counters the kernel keeps for a unit's cgroup that systemd 252 does not expose over D-Bus.
public enum CgroupCounters {
    /// `oom_kill` of `/sys/fs/cgroup<group>/memory.events` (cgroup v2), or nil where there is no such file.
    public static func oomKills(controlGroup group: String, root: String = "/sys/fs/cgroup") -> UInt64? {
        guard group.hasPrefix("/"), !group.contains("/../"),
              let data = FileManager.default.contents(atPath: root + group + "/memory.events")
        else { return nil }
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count == 2, fields[0] == "oom_kill" { return UInt64(fields[1]) }
        }
        return nil
    }
}

extension CgroupCounters {
    /// How a unit's CPU time was read.
    public enum CPUMeasure: String, Sendable {
        /// The kernel's counter for the unit's cgroup (cgroup v2 `cpu.stat`, what systemd reports as CPUUsageNSec).
        case cgroup
        /// The sum of the CPU times of the unit's processes and of the children they reaped (`/proc/PID/stat`),
        /// where no cgroup v2 counter exists for the unit (a cgroup v1 machine).
        case processes
    }

    /// CPU nanoseconds the unit in `group` used so far, and how that was read; nil when the group is not there.
    /// Tries cgroup v2's counter (unified or hybrid layout) first, unless `processesOnly`, then the unit's processes.
    public static func cpuUsage(
        controlGroup group: String, processesOnly: Bool = false, root: String = "/sys/fs/cgroup", proc: String = "/proc"
    ) -> (nanoseconds: UInt64, measure: CPUMeasure)? {
        guard group.hasPrefix("/"), !group.contains("/../"), !group.hasSuffix("/..") else { return nil }
        for hierarchy in processesOnly ? [] : [root, root + "/unified"] {
            guard let data = FileManager.default.contents(atPath: hierarchy + group + "/cpu.stat") else { continue }
            for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
                let fields = line.split(separator: " ")
                if fields.count == 2, fields[0] == "usage_usec", let micro = UInt64(fields[1]) { return (micro &* 1000, .cgroup) }
            }
        }
        for hierarchy in [root + "/unified", root + "/systemd", root] {
            guard let data = FileManager.default.contents(atPath: hierarchy + group + "/cgroup.procs") else { continue }
            let ticksPerSecond = UInt64(max(1, sysconf(Int32(_SC_CLK_TCK))))
            var ticks: UInt64 = 0
            for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
                guard let pid = Int32(line) else { continue }
                ticks &+= processTicks(pid: pid, proc: proc) ?? 0
            }
            return (ticks &* (1_000_000_000 / ticksPerSecond), .processes)
        }
        return nil
    }

    /// utime + stime + cutime + cstime of one process, in clock ticks (`/proc/PID/stat`); nil when it is gone.
    static func processTicks(pid: Int32, proc: String) -> UInt64? {
        guard let data = FileManager.default.contents(atPath: "\(proc)/\(pid)/stat") else { return nil }
        return processTicks(stat: String(decoding: data, as: UTF8.self))
    }

    /// The same from the text of `/proc/PID/stat` (the command name may hold spaces and parentheses: fields are
    /// counted from the last `)`).
    static func processTicks(stat: String) -> UInt64? {
        guard let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After the name: state (field 3) … utime (14), stime (15), cutime (16), cstime (17).
        guard fields.count > 14 else { return nil }
        var total: UInt64 = 0
        for index in 11...14 {
            guard let value = Int64(fields[index]) else { return nil }
            total &+= UInt64(max(0, value))
        }
        return total
    }
}
