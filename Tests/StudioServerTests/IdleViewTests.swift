import Foundation
import StudioCore
import Testing
@testable import StudioServer

/// The `idle` object of the API's workspace view: what studio-idled reported, a keep the broker has just made, and
/// a workspace stopped for idleness.
@Suite struct IdleViewTests {
    let definition = WorkspaceDefinition(
        identity: WorkspaceIdentity(owner: "alice", uid: 1000, name: try! WorkspaceName("web")), projectDirectory: "/home/alice/web",
        template: "default", createdAt: 1_000)

    func info(state: String, idle: IdleStatus? = nil, idleStop: IdleStop? = nil, timeout: Double = 600) -> WorkspaceInfo {
        var definition = definition
        definition.idleStop = idleStop
        let status = UnitStatus(name: definition.identity.unitName, activeState: state == "running" ? "active" : "inactive", subState: "")
        return WorkspaceInfo(definition: definition, unitStatus: status, limits: ResourceLimits(), idleTimeoutSeconds: timeout, idle: idle)
    }

    @Test func notReportedYetIsAllNullButTheTimeout() {
        let view = WorkspaceView.Idle(info(state: "running"), started: 2_000)
        #expect(view.timeoutSeconds == 600)
        #expect([view.lastActivityAt, view.lastActivitySource, view.lastWorkAt, view.keepUntil, view.keptBy, view.idleSince, view.stopsAt,
                 view.stoppedForIdleAt].allSatisfy { $0 == nil })
        #expect(view.busy == nil)
    }

    @Test func whatStudioIdledReported() {
        let idle = IdleStatus(lastActivity: 2_100, lastActivitySource: .terminal, busy: false, keptBy: .interaction, idleSince: 2_100, stopAt: 2_700)
        let view = WorkspaceView.Idle(info(state: "running", idle: idle), started: 2_000)
        #expect(view.lastActivityAt == "1970-01-01T00:35:00Z" && view.lastActivitySource == "terminal")
        #expect(view.keptBy == "interaction" && view.stopsAt == "1970-01-01T00:45:00Z" && view.busy == false)
        #expect(view.stoppedForIdleAt == nil && view.keepUntil == nil)
    }

    @Test func aKeepJustMadeMovesTheDeadlineByStudioIdledsRule() {
        let idle = IdleStatus(lastActivity: 2_100, lastActivitySource: .exec, keptBy: .interaction, idleSince: 2_100, stopAt: 2_700)
        let kept = WorkspaceView.Idle(info(state: "running", idle: idle), started: 2_000, keepUntil: .some(5_000))
        #expect(kept.keptBy == "keep" && kept.stopsAt == "1970-01-01T01:23:20Z" && kept.keepUntil == "1970-01-01T01:23:20Z")
        // A keep shorter than the deadline changes nothing but the keep itself.
        let short = WorkspaceView.Idle(info(state: "running", idle: idle), started: 2_000, keepUntil: .some(2_200))
        #expect(short.keptBy == "interaction" && short.stopsAt == "1970-01-01T00:45:00Z")
        // keep --for 0.
        let ended = WorkspaceView.Idle(info(state: "running", idle: idle), started: 2_000, keepUntil: .some(nil))
        #expect(ended.keepUntil == nil && ended.stopsAt == "1970-01-01T00:45:00Z")
    }

    @Test func stoppedForIdleness() {
        let view = WorkspaceView.Idle(info(state: "stopped", idleStop: IdleStop(at: 9_000, idleSince: 8_400)), started: nil)
        #expect(view.stoppedForIdleAt == "1970-01-01T02:30:00Z" && view.idleSince == "1970-01-01T02:20:00Z")
        #expect(view.stopsAt == nil && view.keptBy == nil)
    }
}
