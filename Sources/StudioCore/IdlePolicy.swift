/// When an idle workspace is stopped: the decision itself, without I/O, so that it is tested with a clock of our own.
///
/// A workspace is idle only when, for its whole timeout, nobody interacted with it AND it did no work (CPU above the
/// busy threshold). `studioctl keep --for` postpones the deadline. A timeout of 0 means never.
public struct IdleTimeline: Sendable, Equatable {
    /// When the workspace last started (seconds since the epoch).
    public var startedAt: Double
    /// The last activity record from a person (terminal input, API action, app traffic).
    public var lastInteraction: Double?
    /// The last check window in which it used more CPU than the busy threshold.
    public var lastWork: Double?
    /// `keep --for`: not before this.
    public var keepUntil: Double?
    /// How long without interaction or work makes it idle; 0 means never.
    public var timeoutSeconds: Double

    public init(startedAt: Double, lastInteraction: Double? = nil, lastWork: Double? = nil, keepUntil: Double? = nil, timeoutSeconds: Double) {
        self.startedAt = startedAt
        self.lastInteraction = lastInteraction
        self.lastWork = lastWork
        self.keepUntil = keepUntil
        self.timeoutSeconds = timeoutSeconds
    }

    /// What kept (or keeps) the workspace up last.
    public enum Reason: String, Sendable, Codable {
        case started, interaction, work, keep
    }

    /// The decision at one moment.
    public struct Verdict: Sendable, Equatable {
        /// When it will be stopped if nothing happens; nil when never (timeout 0).
        public var stopAt: Double?
        /// What set that deadline.
        public var reason: Reason
        /// The last sign of life (start, interaction or work): idle since then.
        public var lastSign: Double

        public init(stopAt: Double?, reason: Reason, lastSign: Double) {
            self.stopAt = stopAt
            self.reason = reason
            self.lastSign = lastSign
        }

        /// Whether it is to be stopped now.
        public func isIdle(at now: Double) -> Bool { stopAt.map { now >= $0 } ?? false }
    }

    public func verdict() -> Verdict {
        var lastSign = startedAt
        var reason = Reason.started
        if let interaction = lastInteraction, interaction >= lastSign { lastSign = interaction; reason = .interaction }
        if let work = lastWork, work > lastSign { lastSign = work; reason = .work }
        guard timeoutSeconds > 0 else { return Verdict(stopAt: nil, reason: reason, lastSign: lastSign) }
        var stopAt = lastSign + timeoutSeconds
        if let keep = keepUntil, keep > stopAt {
            stopAt = keep
            reason = .keep
        }
        return Verdict(stopAt: stopAt, reason: reason, lastSign: lastSign)
    }
}

/// Whether a workspace worked between two readings of its CPU time: more than `threshold` CPUs on average
/// (0.10 is a tenth of one CPU, `[Idle] BusyCPU=`'s default).
public enum BusyMeter {
    public static let defaultThreshold = 0.10

    /// `previous` and `current` are (seconds, CPU nanoseconds used so far); a counter that went backwards (the unit
    /// restarted) counts as no work.
    public static func busy(previous: (time: Double, cpuNanoseconds: UInt64), current: (time: Double, cpuNanoseconds: UInt64), threshold: Double = defaultThreshold) -> Bool {
        let elapsed = current.time - previous.time
        guard elapsed > 0, current.cpuNanoseconds >= previous.cpuNanoseconds else { return false }
        let cpus = Double(current.cpuNanoseconds - previous.cpuNanoseconds) / 1e9 / elapsed
        return cpus > threshold
    }
}
