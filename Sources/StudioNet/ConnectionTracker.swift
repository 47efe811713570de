import Synchronization

/// Counts open connections and remembers when the last one closed, to decide when studiod is idle.
public final class ConnectionTracker: Sendable {
    private struct State {
        var open = 0
        var quietSince: ContinuousClock.Instant
    }

    private let state: Mutex<State>

    public init(now: ContinuousClock.Instant = .now) {
        state = Mutex(State(quietSince: now))
    }

    /// A connection was accepted.
    public func opened() {
        state.withLock { $0.open += 1 }
    }

    /// A connection ended.
    public func closed(now: ContinuousClock.Instant = .now) {
        state.withLock {
            $0.open -= 1
            if $0.open == 0 { $0.quietSince = now }
        }
    }

    /// Connections open right now.
    public var openConnections: Int { state.withLock { $0.open } }

    /// How long there has been no open connection, or nil while one is open.
    public func quietFor(now: ContinuousClock.Instant = .now) -> Duration? {
        state.withLock { $0.open == 0 ? now - $0.quietSince : nil }
    }
}
