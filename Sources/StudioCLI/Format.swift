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
        if info.state == "stopped", let stop = info.idleStop {
            headline += " for idleness at \(clock(stop.at)) (idle since \(clock(stop.idleSince)), \(formatUptime(max(0, stop.at - stop.idleSince))))"
        } else if info.state == "running", let since = status?.activeEnterRealtimeMicroseconds {
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
            "  template  \(definition.template)"
                + (info.backend == .container ? " (container on image \(info.image ?? "?"), root inside is not root on the host)" : ""),
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
        lines += idleLines(info, now: now)
        if running, let pid = info.agentPID ?? status?.mainPID, pid > 0 { lines.append("  agent     pid \(pid), \(info.agentSocket)") }
        return lines.joined(separator: "\n")
    }

    /// The idle lines of `status`: when it stops if nothing happens, what keeps it up, the last activity and work.
    static func idleLines(_ info: WorkspaceInfo, now: Double) -> [String] {
        guard info.state == "running" else { return ["  idle      timeout \(idleTimeout(info.idleTimeoutSeconds))"] }
        guard let idle = info.idle else {
            if justStarted(info, now: now) {
                return ["  idle      timeout \(idleTimeout(info.idleTimeoutSeconds)); studio-idled has not looked at it yet (it just started)"]
            }
            return ["  idle      timeout \(idleTimeout(info.idleTimeoutSeconds)); studio-idled has not reported on it yet (is studio-idled.service running?)"]
        }
        var lines: [String] = []
        if let stopAt = idle.stopAt {
            lines.append("  idle      stops at \(clock(stopAt)) (in \(formatUptime(max(0, stopAt - now)))) if nothing happens; timeout \(idleTimeout(info.idleTimeoutSeconds))")
        } else {
            lines.append("  idle      never stopped for idleness (timeout 0)")
        }
        let kept: String = switch idle.keptBy {
        case .keep: "studioctl keep, until \(idle.keepUntil.map(clock) ?? "?")"
        case .work: "CPU work \(ago(idle.lastWork, now))" + (idle.busy ? " (working now)" : "")
        case .interaction: "\(idle.lastActivitySource.map(sourceName) ?? "activity") \(ago(idle.lastActivity, now))"
        case .started: "its start \(ago(idle.idleSince, now))"
        }
        lines.append("  kept by   \(kept)")
        let activity = idle.lastActivity.map { "\(idle.lastActivitySource.map(sourceName) ?? "activity") \(ago($0, now))" } ?? "none since it started"
        let work = idle.lastWork.map { "\(ago($0, now))" } ?? "none since it started"
        lines.append("  activity  last: \(activity); CPU work above the busy threshold: \(work)\(idle.cpuMeasure.map { " (measured by \($0))" } ?? "")")
        return lines
    }

    /// Started less than 15 s ago: studio-idled looks every 5 s (and soon after a start it sees in the journal),
    /// so its silence means nothing yet.
    static func justStarted(_ info: WorkspaceInfo, now: Double) -> Bool {
        guard let started = info.unitStatus?.activeEnterRealtimeMicroseconds.map({ Double($0) / 1e6 }) else { return false }
        return now - started < 15
    }

    /// The `IDLE STOP` column of `list`.
    static func idleColumn(_ info: WorkspaceInfo, now: Double) -> String {
        if info.state == "stopped", info.idleStop != nil { return "was idle" }
        guard info.state == "running" else { return "-" }
        guard let idle = info.idle else {
            if info.idleTimeoutSeconds == 0 { return "never" }
            return justStarted(info, now: now) ? "checking" : "?"
        }
        guard let stopAt = idle.stopAt else { return "never" }
        return "in \(formatUptime(max(0, stopAt - now)))" + (idle.keptBy == .keep ? " (kept)" : idle.busy ? " (working)" : "")
    }

    /// `2h`, `30m 0s`, or `never` for 0.
    static func idleTimeout(_ seconds: Double) -> String { seconds == 0 ? "never (0)" : formatUptime(seconds) }

    /// What an activity source is, for people.
    static func sourceName(_ source: ActivitySource) -> String {
        switch source {
        case .terminal: "terminal input"
        case .exec: "exec"
        case .app: "app connection"
        case .api: "dashboard action"
        }
    }

    /// `3m 4s ago`.
    static func ago(_ time: Double?, _ now: Double) -> String {
        guard let time else { return "-" }
        return "\(formatUptime(max(0, now - time))) ago"
    }

    /// Local time of day, with the date when it is not today: `16:05:03`, `Nov 25 16:05`.
    static func clock(_ time: Double) -> String {
        var seconds = time_t(time)
        var parts = tm()
        localtime_r(&seconds, &parts)
        var today = time_t(Double(Glibc.time(nil)))
        var now = tm()
        localtime_r(&today, &now)
        let format = parts.tm_yday == now.tm_yday && parts.tm_year == now.tm_year ? "%H:%M:%S" : "%b %d %H:%M"
        var buffer = [CChar](repeating: 0, count: 64)
        let length = strftime(&buffer, buffer.count, format, &parts)
        return String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
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
