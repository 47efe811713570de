import Testing
@testable import StudioCore

/// Which journal entries studio-idled believes: only by journald's own fields, which a local user cannot forge.
@Suite struct IdleLedgerTests {
    static let unit = "studio-ws-alice-web.service"
    static let running = IdleLedger.Running(owner: "alice", name: "web", unit: unit, timeoutSeconds: 600, startedAt: 1000, mainPID: 4242)

    func ledger() -> IdleLedger {
        var ledger = IdleLedger(studioUID: 990, idledUID: 991)
        ledger.update(running: [Self.running])
        return ledger
    }

    func activity(unit: String = unit, pid: String = "4242", uid: String = "1000", source: String = "terminal", user: String? = nil) -> [String: String] {
        var fields = ["STUDIO_EVENT": "activity", "_SYSTEMD_UNIT": unit, "_PID": pid, "_UID": uid, "STUDIO_SOURCE": source]
        fields["STUDIO_USER"] = user
        fields["STUDIO_WORKSPACE"] = user == nil ? nil : "web"
        return fields
    }

    @Test func theAgentsRecordCounts() {
        var ledger = ledger()
        #expect(ledger.ingest(activity(), time: 1100) == .interaction(Self.unit))
        #expect(ledger.workspaces[Self.unit]?.lastActivity == 1100)
        #expect(ledger.workspaces[Self.unit]?.lastActivitySource == .terminal)
        #expect(ledger.workspaces[Self.unit]?.timeline.verdict().stopAt == 1700)
    }

    @Test func aLoggerInsideTheWorkspaceDoesNot() {
        var ledger = ledger()
        // Same unit and uid (the owner's `logger` in their own workspace), another PID.
        #expect(ledger.ingest(activity(pid: "5000"), time: 1100) == .unverified)
        #expect(ledger.workspaces[Self.unit]?.lastActivity == nil)
        #expect(ledger.workspaces[Self.unit]?.timeline.verdict().stopAt == 1600)
    }

    @Test func aRecordFromBeforeTheStartDoesNot() {
        var ledger = ledger()
        #expect(ledger.ingest(activity(), time: 999) == .unverified)
        #expect(ledger.workspaces[Self.unit]?.lastActivity == nil)
    }

    @Test func recordsFromOtherUnitsDoNot() {
        var ledger = ledger()
        // `logger --journald` from bob's login session naming alice's workspace.
        let forged = activity(unit: "session-3.scope", pid: "4242", uid: "1001", user: "alice")
        #expect(ledger.ingest(forged, time: 1100) == .ignored("activity records count only from a workspace's agent or from studiod"))
        // From studiod's unit but not as the studio user.
        #expect(ledger.ingest(activity(unit: "studiod.service", uid: "1001", user: "alice"), time: 1100) == .ignored("from studiod.service but not as the studio user"))
        #expect(ledger.workspaces[Self.unit]?.lastActivity == nil)
    }

    @Test func studiodsRecordCountsForTheWorkspaceItNames() {
        var ledger = ledger()
        #expect(ledger.ingest(activity(unit: "studiod.service", pid: "77", uid: "990", source: "api", user: "alice"), time: 1200) == .interaction(Self.unit))
        #expect(ledger.workspaces[Self.unit]?.lastActivitySource == .api)
        #expect(ledger.ingest(activity(unit: "studiod.service", pid: "77", uid: "990", source: "api", user: "bob"), time: 1200)
            == .ignored("studiod's record names no running workspace"))
    }

    @Test func anUnknownSourceIsNotActivity() {
        var ledger = ledger()
        #expect(ledger.ingest(activity(source: "output"), time: 1100) == .ignored("an activity record without a known source"))
    }

    func keep(until: String, unit: String = "studio-sandbox.service", uid: String = "0", result: String = "success") -> [String: String] {
        ["STUDIO_EVENT": "workspace-keep", "_SYSTEMD_UNIT": unit, "_UID": uid, "STUDIO_RESULT": result, "STUDIO_USER": "alice",
         "STUDIO_WORKSPACE": "web", "STUDIO_KEEP_UNTIL": until, "STUDIO_AUDIT": "1"]
    }

    @Test func keepOnlyFromTheBrokerAndItEnds() {
        var ledger = ledger()
        #expect(ledger.ingest(keep(until: "9000", unit: "session-3.scope", uid: "1000"), time: 1100) == .ignored("keep counts only from the broker"))
        #expect(ledger.ingest(keep(until: "9000", result: "failure"), time: 1100) == .ignored("a keep that failed"))
        #expect(ledger.ingest(keep(until: "9000"), time: 1100) == .keep(Self.unit))
        #expect(ledger.workspaces[Self.unit]?.timeline.verdict() == IdleTimeline.Verdict(stopAt: 9000, reason: .keep, lastSign: 1000))
        // keep --for 0: the deadline is the entry's own time.
        #expect(ledger.ingest(keep(until: "1200"), time: 1200) == .keep(Self.unit))
        #expect(ledger.workspaces[Self.unit]?.keepUntil == nil)
    }

    func work(_ busy: String, lastWork: String? = nil, uid: String = "991") -> [String: String] {
        var fields = ["STUDIO_EVENT": "idle-work", "_SYSTEMD_UNIT": "studio-idled.service", "_UID": uid, "STUDIO_UNIT": Self.unit, "STUDIO_BUSY": busy]
        fields["STUDIO_LAST_WORK"] = lastWork
        return fields
    }

    @Test func workRecordsCountWhenReadBackOnly() {
        var ledger = ledger()
        #expect(ledger.ingest(work("1"), time: 1100) == .ignored("studio-idled's own record, read back while it measures"))
        #expect(ledger.ingest(work("1", uid: "1000"), time: 1100, replaying: true) == .ignored("work records count only from studio-idled"))
        #expect(ledger.ingest(work("1"), time: 1100, replaying: true) == .work(Self.unit))
        #expect(ledger.ingest(work("0", lastWork: "1500"), time: 1505, replaying: true) == .work(Self.unit))
        #expect(ledger.workspaces[Self.unit]?.lastWork == 1500)
        #expect(ledger.workspaces[Self.unit]?.busy == false)
    }

    @Test func workStillGoingWhenReadBackCountsUntilNow() {
        var ledger = ledger()
        ledger.ingest(work("1"), time: 1100, replaying: true)
        ledger.finishReplay(now: 1400)
        #expect(ledger.workspaces[Self.unit]?.timeline.verdict() == IdleTimeline.Verdict(stopAt: 2000, reason: .work, lastSign: 1400))
    }

    @Test func brokerLifecycleEntriesAskForTheListAgain() {
        var ledger = ledger()
        let start = ["STUDIO_EVENT": "workspace-start", "_SYSTEMD_UNIT": "studio-sandbox.service", "_UID": "0", "STUDIO_AUDIT": "1",
                     "STUDIO_USER": "alice", "STUDIO_WORKSPACE": "web"]
        #expect(ledger.ingest(start, time: 1100) == .lifecycle(owner: "alice", name: "web"))
        var forged = start
        forged["_UID"] = "1000"
        forged["_SYSTEMD_UNIT"] = "session-3.scope"
        #expect(ledger.ingest(forged, time: 1100) == .ignored("not an idle record"))
    }

    @Test func aNewRunStartsAfreshTheSameRunKeepsWhatWasLearned() {
        var ledger = ledger()
        ledger.ingest(activity(), time: 1100)
        var longer = Self.running
        longer.timeoutSeconds = 900
        ledger.update(running: [longer])
        #expect(ledger.workspaces[Self.unit]?.lastActivity == 1100)
        #expect(ledger.workspaces[Self.unit]?.timeline.verdict().stopAt == 2000)
        var restarted = longer
        restarted.startedAt = 3000
        restarted.mainPID = 5151
        ledger.update(running: [restarted])
        #expect(ledger.workspaces[Self.unit]?.lastActivity == nil)
        ledger.update(running: [])
        #expect(ledger.workspaces.isEmpty)
    }

    @Test func oneWorkspaceAtATime() {
        var ledger = ledger()
        ledger.ingest(activity(), time: 1100)
        ledger.update(unit: Self.unit, running: Self.running)
        #expect(ledger.workspaces[Self.unit]?.lastActivity == 1100, "the same run keeps what was learned")
        var restarted = Self.running
        restarted.startedAt = 1200
        ledger.update(unit: Self.unit, running: restarted)
        #expect(ledger.workspaces[Self.unit]?.lastActivity == nil, "a new run starts afresh")
        ledger.update(unit: Self.unit, running: nil)
        #expect(ledger.workspaces.isEmpty)
    }

    @Test func cpuWorkBeginsAndEnds() {
        var ledger = ledger()
        #expect(ledger.sample(unit: Self.unit, time: 1100, cpuNanoseconds: 0, threshold: 0.1) == nil)
        // 4 s of CPU in 5 s: working.
        #expect(ledger.sample(unit: Self.unit, time: 1105, cpuNanoseconds: 4_000_000_000, threshold: 0.1) == .began)
        #expect(ledger.workspaces[Self.unit]?.lastWork == 1105)
        #expect(ledger.sample(unit: Self.unit, time: 1110, cpuNanoseconds: 8_000_000_000, threshold: 0.1) == nil)
        // 0.1 s in 5 s (2%): not.
        #expect(ledger.sample(unit: Self.unit, time: 1115, cpuNanoseconds: 8_100_000_000, threshold: 0.1) == .ended(lastWork: 1110))
        #expect(ledger.workspaces[Self.unit]?.timeline.verdict() == IdleTimeline.Verdict(stopAt: 1710, reason: .work, lastSign: 1110))
    }
}
