import StudioCore
#if canImport(Glibc)
import Glibc
#endif

/// Human output of studioctl: tables, sizes, limits, status and log lines.
enum Format {
    /// Columns padded to their widest cell; the last column is not padded.
    static func table(header: [String], rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { column, cell in
                column == row.count - 1 ? cell : cell.padding(to: widths[column])
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }

    /// `312M / 4G` while running, `- / 4G` otherwise; `n/a` where systemd has no figure (memory accounting off,
    /// or cgroup v1 as in a container).
    static func memory(used: UInt64?, limit: UInt64?, running: Bool) -> String {
        let usedText = running ? used.map(ByteSize.format) ?? "n/a" : "-"
        return "\(usedText) / \(limit.map(ByteSize.format) ?? "no limit")"
    }

    /// `memory 4G, cpus 2, tasks 4096`.
    static func limits(_ limits: ResourceLimits) -> String {
        var parts: [String] = []
        if let memory = limits.memoryMaxBytes { parts.append("memory \(ByteSize.format(memory))") }
        if let cpus = limits.cpus { parts.append("cpus \(LimitsPolicy.formatCPUs(cpus))") }
        if let tasks = limits.tasksMax { parts.append("tasks \(tasks)") }
        return parts.isEmpty ? "defaults" : parts.joined(separator: ", ")
    }

    /// The `studioctl status NAME` block: limits beside live usage.
    static func status(_ info: WorkspaceInfo, now: Double) -> String {
        let definition = info.definition
        let status = info.unitStatus
        var headline = "\(definition.identity.displayName): \(info.state)"
        if info.state == "running", let since = status?.activeEnterRealtimeMicroseconds {
            headline += " for \(formatUptime(max(0, now - Double(since) / 1e6)))"
        } else if info.state == "failed", let result = status?.result {
            headline += " (\(result))"
        }
        let running = info.state == "running"
        let limits = info.limits
        var lines = [
            headline,
            "  unit      \(info.unit) in \(definition.identity.sliceName)",
            "  project   \(definition.projectDirectory)",
            "  template  \(definition.template)",
            "  memory    \(memory(used: status?.memoryCurrentBytes, limit: limits.memoryMaxBytes, running: running))"
                + (limits.memoryHighBytes.map { " (reclaim from \(ByteSize.format($0)))" } ?? ""),
            "  cpu       " + (running ? "\(cpuTime(status?.cpuUsageNanoseconds)) used, " : "")
                + "limit \(limits.cpus.map { LimitsPolicy.formatCPUs($0) + " CPUs" } ?? "none")"
                + (limits.cpuWeight.map { ", weight \($0)" } ?? ""),
            "  tasks     " + (running ? "\(status?.tasksCurrent.map(String.init) ?? "n/a") / " : "- / ") + (limits.tasksMax.map(String.init) ?? "no limit"),
        ]
        if let io = limits.ioWeight { lines.append("  io        weight \(io)") }
        if let kills = status?.oomKills, kills > 0 {
            lines.append("  oom       \(kills) process\(kills == 1 ? "" : "es") killed for passing the memory limit (studioctl logs \(definition.identity.name.rawValue))")
        }
        if running, let pid = status?.mainPID, pid > 0 { lines.append("  agent     pid \(pid), \(info.agentSocket)") }
        return lines.joined(separator: "\n")
    }

    /// `1.2s`, `3m 4s` of CPU time.
    static func cpuTime(_ nanoseconds: UInt64?) -> String {
        guard let nanoseconds else { return "n/a" }
        let seconds = Double(nanoseconds) / 1e9
        if seconds < 60 { return "\((seconds * 10).rounded() / 10)s CPU" }
        return formatUptime(seconds) + " CPU"
    }

    /// `Nov 23 18:02:21 studio-agent[1234]: message`, in local time as journalctl shows it.
    static func logLine(_ line: LogLine) -> String {
        var seconds = time_t(line.time / 1_000_000)
        var parts = tm()
        localtime_r(&seconds, &parts)
        var buffer = [CChar](repeating: 0, count: 64)
        let length = strftime(&buffer, buffer.count, "%b %d %H:%M:%S", &parts)
        let stamp = String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return "\(stamp) \(line.identifier)\(line.pid.isEmpty ? "" : "[\(line.pid)]"): \(line.message)"
    }
}

extension String {
    func padding(to width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
