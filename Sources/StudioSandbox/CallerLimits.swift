import Synchronization

/// How much one caller may have going on at the broker at once, so that one user cannot stall it for the others.
enum CallerLimits {
    /// Open connections per uid (root is not counted).
    static let connectionsPerUID = 16
    /// `logs --follow` streams per uid (root is not counted).
    static let followersPerUID = 4
    /// Open connections of studiod, which carries every web user's requests, terminals and app connections (the
    /// broker's LimitNOFILE=4096 holds two descriptors for each relayed one).
    static let studiodConnections = 1500
    /// Terminal and app connections relayed to agents per web user.
    static let relaysPerUser = 64
}

/// Counts what each uid holds (connections, log followers) against a limit.
final class CallerCounter: Sendable {
    /// What `enter` hands out and `leave` takes back.
    enum Ticket: Sendable {
        case counted(UInt32)
        /// Root's, or a request that does not count.
        case notCounted
    }

    let limit: Int
    private let counts = Mutex<[UInt32: Int]>([:])

    init(limit: Int) { self.limit = limit }

    /// A ticket, or nil when `uid` already holds `limit`.
    func enter(_ uid: UInt32) -> Ticket? {
        if uid == 0 { return .notCounted }
        return counts.withLock { counts in
            let held = counts[uid, default: 0]
            guard held < limit else { return nil }
            counts[uid] = held + 1
            return .counted(uid)
        }
    }

    func leave(_ ticket: Ticket) {
        guard case .counted(let uid) = ticket else { return }
        counts.withLock { counts in
            let held = counts[uid, default: 1] - 1
            counts[uid] = held > 0 ? held : nil
        }
    }
}
