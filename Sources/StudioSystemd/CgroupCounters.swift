#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
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
