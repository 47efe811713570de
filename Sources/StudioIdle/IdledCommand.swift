import ArgumentParser
import Logging
import StudioSystemd
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Set by SIGTERM/SIGINT; the follow loop checks it.
private let stopRequested = Atomic<Bool>(false)

/// `studio-idled`: follows the journal for Studio's entries (later: activity records, idle stops).
public struct IdledCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "studio-idled",
        abstract: "Follows the journal for Studio's activity records (started by studio-idled.service).")

    public init() {}

    public func run() throws {
        JournalLogHandler.bootstrap(identifier: "studio-idled")
        let logger = Logger(label: "studio-idled")
        signal(SIGTERM) { _ in stopRequested.store(true, ordering: .relaxed) }
        signal(SIGINT) { _ in stopRequested.store(true, ordering: .relaxed) }

        let follower: JournalFollower
        do {
            follower = try JournalFollower()
        } catch {
            logger.critical("cannot read the journal: \(error); studio-idled needs the systemd-journal group")
            throw ExitCode.failure
        }
        logger.info("following the journal", metadata: ["units": "\(JournalFollower.units.joined(separator: " "))"])
        ServiceNotifier.ready(status: "following the journal")
        try follower.follow(shouldStop: { stopRequested.load(ordering: .relaxed) }) { entry in
            let unit = entry["_SYSTEMD_UNIT"] ?? "?"
            logger.info("seen: \(unit): \(entry["MESSAGE"] ?? "")", metadata: [
                "seen_unit": "\(unit)",
                "seen_pid": "\(entry["_PID"] ?? "")",
                "seen_cursor": "\(entry.cursor)",
            ])
        }
        ServiceNotifier.stopping()
        logger.info("stopped following the journal")
    }
}
