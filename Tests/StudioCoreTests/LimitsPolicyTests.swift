import Testing
@testable import StudioCore

@Suite struct LimitsPolicyTests {
    let host = HostResources(memoryBytes: 16 << 30, cpus: 8)

    @Test func defaultsThenTemplateThenWorkspaceWithMemoryHighBelowMax() {
        let policy = LimitsPolicy(
            defaults: ResourceLimits(memoryMaxBytes: 4 << 30, cpus: 2, tasksMax: 4096), ceilings: ResourceLimits(), host: host)
        let limits = policy.effective(template: ResourceLimits(cpus: 4, tasksMax: 100), workspace: ResourceLimits(tasksMax: 50))
        #expect(limits.memoryMaxBytes == 4 << 30)
        #expect(limits.memoryHighBytes == (4 << 30) / 10 * 9)
        #expect(limits.cpus == 4)
        #expect(limits.tasksMax == 50)
    }

    @Test func adminValuesAboveACeilingAreLowered() {
        let policy = LimitsPolicy(
            defaults: ResourceLimits(memoryMaxBytes: 4 << 30), ceilings: ResourceLimits(memoryMaxBytes: 2 << 30, tasksMax: 10), host: host)
        let limits = policy.effective(template: ResourceLimits(tasksMax: 1000), workspace: ResourceLimits())
        #expect(limits.memoryMaxBytes == 2 << 30)
        #expect(limits.tasksMax == 10)
    }

    @Test func userRequestsAboveACeilingAreRefusedNamingIt() {
        let policy = LimitsPolicy(defaults: ResourceLimits(), ceilings: ResourceLimits(memoryMaxBytes: 8 << 30, tasksMax: 500), host: host)
        #expect(throws: WorkspaceError.limitAboveCeiling(limit: "memory", requested: "12G", ceiling: "8G")) {
            try policy.check(requested: ResourceLimits(memoryMaxBytes: 12 << 30))
        }
        #expect(throws: WorkspaceError.limitAboveCeiling(limit: "tasks", requested: "501", ceiling: "500")) {
            try policy.check(requested: ResourceLimits(tasksMax: 501))
        }
        #expect(throws: Never.self) { try policy.check(requested: ResourceLimits(memoryMaxBytes: 8 << 30, tasksMax: 500)) }
    }

    @Test func withoutAdminCeilingsTheMachineIsTheLimit() {
        let policy = LimitsPolicy(defaults: ResourceLimits(memoryMaxBytes: 32 << 30), ceilings: ResourceLimits(), host: host)
        #expect(throws: WorkspaceError.limitAboveMachine(limit: "memory", requested: "100G", machine: "16G")) {
            try policy.check(requested: ResourceLimits(memoryMaxBytes: 100 << 30))
        }
        #expect(throws: WorkspaceError.limitAboveMachine(limit: "cpus", requested: "64", machine: "8")) {
            try policy.check(requested: ResourceLimits(cpus: 64))
        }
        #expect(policy.effective(template: ResourceLimits(), workspace: ResourceLimits()).memoryMaxBytes == 16 << 30)
    }
}
