import Testing
import StudioCore

/// The idle decision with a clock of our own (times in seconds).
@Suite struct IdlePolicyTests {
    let hour = 3600.0

    @Test func anUntouchedWorkspaceIsIdleOneTimeoutAfterItStarted() {
        let timeline = IdleTimeline(startedAt: 1000, timeoutSeconds: 2 * hour)
        let verdict = timeline.verdict()
        #expect(verdict.stopAt == 1000 + 2 * hour)
        #expect(verdict.reason == .started)
        #expect(!verdict.isIdle(at: 1000 + 2 * hour - 1))
        #expect(verdict.isIdle(at: 1000 + 2 * hour))
    }

    @Test func interactionAndWorkEachPushTheDeadline() {
        var timeline = IdleTimeline(startedAt: 0, lastInteraction: 500, timeoutSeconds: hour)
        #expect(timeline.verdict() == .init(stopAt: 500 + hour, reason: .interaction, lastSign: 500))
        // An unattended build or agent after the last keystroke: work counts as much as interaction.
        timeline.lastWork = 3000
        #expect(timeline.verdict() == .init(stopAt: 3000 + hour, reason: .work, lastSign: 3000))
        #expect(!timeline.verdict().isIdle(at: 3000 + hour - 1))
    }

    @Test func keepPostponesButNeverShortens() {
        var timeline = IdleTimeline(startedAt: 0, lastInteraction: 100, keepUntil: 100 + 3 * hour, timeoutSeconds: hour)
        #expect(timeline.verdict() == .init(stopAt: 100 + 3 * hour, reason: .keep, lastSign: 100))
        timeline.keepUntil = 200  // an expired keep changes nothing
        #expect(timeline.verdict() == .init(stopAt: 100 + hour, reason: .interaction, lastSign: 100))
    }

    @Test func aTimeoutOfZeroNeverStops() {
        let verdict = IdleTimeline(startedAt: 0, timeoutSeconds: 0).verdict()
        #expect(verdict.stopAt == nil)
        #expect(!verdict.isIdle(at: 1e12))
    }

    @Test func busyMeansMoreThanTheThresholdOfOneCPUOnAverage() {
        // 30 s window: 3 CPU-seconds is 0.10 CPUs (not above), 3.1 is.
        #expect(!BusyMeter.busy(previous: (0, 0), current: (30, 3_000_000_000)))
        #expect(BusyMeter.busy(previous: (0, 0), current: (30, 3_100_000_000)))
        #expect(BusyMeter.busy(previous: (0, 0), current: (30, 600_000_000), threshold: 0.01))
        // A restarted unit's counter goes back: no work.
        #expect(!BusyMeter.busy(previous: (0, 9_000_000_000), current: (30, 1_000_000_000)))
        #expect(!BusyMeter.busy(previous: (10, 0), current: (10, 5_000_000_000)), "no time passed")
    }
}
