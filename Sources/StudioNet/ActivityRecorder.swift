import Logging
import StudioCore
import Synchronization

/// Writes activity records to the journal (`STUDIO_EVENT=activity`, `STUDIO_USER`, `STUDIO_WORKSPACE`,
/// `STUDIO_SOURCE`), at most one per workspace and source per interval. The agent writes them for its workspace
/// (terminal input, exec, app connections), studiod for the workspaces its users act on. Terminal output is never
/// activity: a `tail -f` left open is not a person. studio-idled believes them only by journald's own fields
/// (``IdleLedger``).
public final class ActivityRecorder: Sendable {
    let interval: Double
    let logger: Logger
    let now: @Sendable () -> Double
    private let last = Mutex<[String: Double]>([:])
    /// Beyond this many remembered keys the oldest half is forgotten (studiod serves many workspaces).
    static let maxKeys = 4096

    public init(interval: Double = ActivityRecord.throttleSeconds, logger: Logger, now: @escaping @Sendable () -> Double) {
        self.interval = interval
        self.logger = logger
        self.now = now
    }

    /// Records activity from `source` on `owner`'s `workspace`, unless one was recorded less than `interval` ago;
    /// true when it wrote one.
    @discardableResult
    public func record(_ source: ActivitySource, owner: String, workspace: String) -> Bool {
        let time = now()
        let key = "\(owner)/\(workspace)/\(source.rawValue)"
        let due = last.withLock { last -> Bool in
            if let previous = last[key], time - previous < interval { return false }
            if last.count >= Self.maxKeys {
                for (key, _) in last.sorted(by: { $0.value < $1.value }).prefix(Self.maxKeys / 2) { last[key] = nil }
            }
            last[key] = time
            return true
        }
        guard due else { return false }
        logger.info("activity: \(source.rawValue) on \(owner)/\(workspace)", metadata: [
            "studio_event": "\(ActivityRecord.event)", "studio_user": "\(owner)", "studio_workspace": "\(workspace)",
            "studio_source": "\(source.rawValue)",
        ])
        return true
    }
}
