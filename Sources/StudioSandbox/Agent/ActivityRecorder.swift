import Logging
import Synchronization

/// Writes the workspace's activity records to the journal: `STUDIO_EVENT=activity` with `STUDIO_SOURCE` (terminal
/// input, exec, app connections), at most one per source per interval. Terminal output is never activity: a
/// `tail -f` left open is not a person. studio-idled believes these only from the unit's main process (the agent).
final class ActivityRecorder: Sendable {
    enum Source: String, Sendable {
        /// Someone typed into a terminal.
        case terminal
        /// A program was started with exec.
        case exec
        /// A connection to an app.
        case app
    }

    let workspace: String
    let interval: Double
    let logger: Logger
    let now: @Sendable () -> Double
    private let last = Mutex<[Source: Double]>([:])

    init(workspace: String, interval: Double = 30, logger: Logger, now: @escaping @Sendable () -> Double) {
        self.workspace = workspace
        self.interval = interval
        self.logger = logger
        self.now = now
    }

    /// Records activity from `source`, unless one was recorded less than `interval` ago; true when it wrote one.
    @discardableResult
    func record(_ source: Source) -> Bool {
        let time = now()
        let due = last.withLock { last -> Bool in
            if let previous = last[source], time - previous < interval { return false }
            last[source] = time
            return true
        }
        guard due else { return false }
        logger.info("activity: \(source.rawValue)", metadata: [
            "studio_event": "activity", "studio_workspace": "\(workspace)", "studio_source": "\(source.rawValue)",
        ])
        return true
    }
}
