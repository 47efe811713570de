import Logging
import StudioCore
import StudioSystemd
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Reads a workspace unit's journal for `logs`: the last N entries, then (when following) new ones as they come.
///
/// Entries match as `journalctl -u` does — the unit's own processes (`_SYSTEMD_UNIT`), and systemd's messages about
/// it (`UNIT=` from PID 1) — and the unit's own entries must also come from the owner's uid (`_UID`): a unit of the
/// same name run earlier by someone else (a deleted user whose name was given again, a unit root started by hand)
/// is not the owner's to read. A container workspace's entries come from its uid range (root and the owner inside)
/// and from its unit's root-run main process (container-run, nspawn).
enum UnitLogs {
    /// The uids whose entries in a workspace's unit are the owner's to read.
    static func uids(of info: WorkspaceInfo) -> [UInt32] {
        let uid = info.definition.identity.uid
        guard info.backend == .container, let base = info.definition.uidBase else { return [uid] }
        return [0, base, base + uid]
    }

    /// The last error the unit's own processes logged (nspawn's, container-run's), for a failed start's message.
    /// journald may take a moment to write what the unit printed just before it failed: asked up to 10 times over
    /// half a second.
    static func lastError(unit: String, uids: [UInt32], since: UInt64) -> String? {
        for attempt in 0..<10 {
            if attempt > 0 { usleep(50_000) }
            guard let reader = try? JournalReader() else { return nil }
            do {
                try reader.addMatch("_SYSTEMD_UNIT", unit)
                for uid in uids { try reader.addMatch("_UID", "\(uid)") }
                try reader.seekTailForReadingBack()
                for _ in 0..<30 {
                    guard let entry = try reader.previous(), entry.realtimeMicroseconds >= since else { break }
                    let message = entry["MESSAGE"] ?? ""
                    if Int(entry["PRIORITY"] ?? "6") ?? 6 <= 3 || message.hasPrefix("studio container-run: ") {
                        return message.hasPrefix("studio container-run: ") ? String(message.dropFirst("studio container-run: ".count)) : message
                    }
                }
            } catch {
                return nil
            }
        }
        return nil
    }

    static func stream(unit: String, uids: [UInt32], lines: Int, follow: Bool, logger: Logger) -> AsyncStream<LogLine?> {
        let (stream, continuation) = AsyncStream<LogLine?>.makeStream(bufferingPolicy: .bufferingNewest(10_000))
        let stop = Box(Atomic<Bool>(false))
        continuation.onTermination = { _ in stop.value.store(true, ordering: .relaxed) }
        BackgroundThread.run {
            do {
                let reader = try JournalReader()
                try reader.addMatch("_SYSTEMD_UNIT", unit)
                for uid in uids { try reader.addMatch("_UID", "\(uid)") }
                try reader.addDisjunction()
                try reader.addMatch("UNIT", unit)
                try reader.addMatch("_PID", "1")
                try reader.seekTailForReadingBack()
                var earlier: [JournalEntry] = []
                while earlier.count < max(0, lines), let entry = try reader.previous() { earlier.append(entry) }
                // Step forward again past what was just read, so `next()` continues after the newest entry.
                try reader.seekTail()
                for entry in earlier.reversed() { continuation.yield(line(entry)) }
                if follow {
                    while !stop.value.load(ordering: .relaxed) {
                        while let entry = try reader.next() { continuation.yield(line(entry)) }
                        try reader.wait(timeoutSeconds: 1)
                    }
                } else {
                    continuation.yield(nil)
                }
            } catch {
                logger.error("reading the journal of \(unit) failed: \(error)")
            }
            continuation.finish()
        }
        return stream
    }

    static func line(_ entry: JournalEntry) -> LogLine {
        LogLine(
            time: entry.realtimeMicroseconds,
            priority: Int(entry["PRIORITY"] ?? "6") ?? 6,
            identifier: entry["SYSLOG_IDENTIFIER"] ?? entry["_COMM"] ?? "?",
            pid: entry["_PID"] ?? "",
            message: entry["MESSAGE"] ?? "")
    }

    /// Lets the termination handler reach the flag the thread reads.
    final class Box: Sendable {
        let value: Atomic<Bool>
        init(_ value: consuming Atomic<Bool>) { self.value = value }
    }
}
