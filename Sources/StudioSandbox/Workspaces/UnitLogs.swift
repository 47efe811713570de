import Logging
import StudioCore
import StudioSystemd
import Synchronization

/// Reads a workspace unit's journal for `logs`: the last N entries, then (when following) new ones as they come.
///
/// Entries match as `journalctl -u` does — the unit's own processes (`_SYSTEMD_UNIT`), and systemd's messages about
/// it (`UNIT=` from PID 1) — and the unit's own entries must also come from the owner's uid (`_UID`): a unit of the
/// same name run earlier by someone else (a deleted user whose name was given again, a unit root started by hand)
/// is not the owner's to read.
enum UnitLogs {
    static func stream(unit: String, uid: UInt32, lines: Int, follow: Bool, logger: Logger) -> AsyncStream<LogLine?> {
        let (stream, continuation) = AsyncStream<LogLine?>.makeStream(bufferingPolicy: .bufferingNewest(10_000))
        let stop = Box(Atomic<Bool>(false))
        continuation.onTermination = { _ in stop.value.store(true, ordering: .relaxed) }
        BackgroundThread.run {
            do {
                let reader = try JournalReader()
                try reader.addMatch("_SYSTEMD_UNIT", unit)
                try reader.addMatch("_UID", "\(uid)")
                try reader.addDisjunction()
                try reader.addMatch("UNIT", unit)
                try reader.addMatch("_PID", "1")
                try reader.seekTail()
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
