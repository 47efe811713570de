import Logging
import Synchronization
import Testing
import StudioCore
@testable import StudioNet

/// Activity records are throttled per workspace and source, so that a busy terminal is one record per interval, not
/// per key.
@Suite struct ActivityRecorderTests {
    final class Clock: Sendable {
        let time = Mutex(1000.0)
        var now: Double { time.withLock { $0 } }
        func advance(_ seconds: Double) { time.withLock { $0 += seconds } }
    }

    @Test func oneRecordPerSourcePerInterval() {
        let clock = Clock()
        let recorder = ActivityRecorder(interval: 30, logger: Logger(label: "test"), now: { clock.now })
        #expect(recorder.record(.terminal, owner: "alice", workspace: "web"))
        clock.advance(10)
        #expect(!recorder.record(.terminal, owner: "alice", workspace: "web"), "typing again within 30 s writes nothing")
        #expect(recorder.record(.app, owner: "alice", workspace: "web"), "another source has its own interval")
        #expect(recorder.record(.terminal, owner: "alice", workspace: "api"), "another workspace has its own interval")
        #expect(recorder.record(.terminal, owner: "bob", workspace: "web"), "another owner's workspace has its own interval")
        clock.advance(20)
        #expect(recorder.record(.terminal, owner: "alice", workspace: "web"), "30 s after the last record")
        #expect(!recorder.record(.app, owner: "alice", workspace: "web"))
    }
}
