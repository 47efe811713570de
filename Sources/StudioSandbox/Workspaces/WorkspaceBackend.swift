import StudioCore
#if canImport(Glibc)
import Glibc
#endif

/// One start of a workspace, whatever runs it.
struct LaunchContext: Sendable {
    var definition: WorkspaceDefinition
    var owner: UserAccount
    var template: Template
    var limits: ResourceLimits
    /// `/run/studio/ws/<id>`.
    var runtimeDirectory: String
}

/// What a backend contributes to a workspace: the checks and files before its unit starts, the agent's spec, the
/// unit itself, how to find its agent, and what it keeps that `reset` and `delete` drop. The broker's lifecycle
/// (locks, audit, the store, the runtime directory, systemd) is the same for every backend.
protocol WorkspaceBackend: Sendable {
    /// Checks what can fail before anything runs and makes what persists; blocking (file system).
    func prepare(_ context: LaunchContext) throws(BrokerError)
    func agentSpec(_ context: LaunchContext) -> AgentSpec
    /// Who reads the agent's spec, when not the owner.
    func specReader(_ context: LaunchContext) -> (uid: UInt32, gid: UInt32)?
    func unit(_ context: LaunchContext, specPath: String, listener: Int32) -> TransientServiceSpec
    /// The agent's host pid, given the unit's main process.
    func agentPID(mainPID: UInt32) -> UInt32?
    /// Drops what the workspace keeps besides its row (`home`: its home too). Blocking.
    func reset(_ definition: WorkspaceDefinition, home: Bool) throws(BrokerError)
    /// Removes everything the workspace keeps besides its row. Blocking.
    func removeData(_ definition: WorkspaceDefinition) throws(BrokerError)
}

/// A transient service on the host, as the owner, in the project directory (see ``UnitSpecBuilder``).
struct HostBackend: WorkspaceBackend {
    let agentProgram: String

    func prepare(_ context: LaunchContext) throws(BrokerError) {}

    func agentSpec(_ context: LaunchContext) -> AgentSpec {
        UnitSpecBuilder.agentSpec(for: context.definition, owner: context.owner, template: context.template, runtimeDirectory: context.runtimeDirectory)
    }

    func specReader(_ context: LaunchContext) -> (uid: UInt32, gid: UInt32)? { nil }

    func unit(_ context: LaunchContext, specPath: String, listener: Int32) -> TransientServiceSpec {
        UnitSpecBuilder.spec(
            for: context.definition, owner: context.owner, limits: context.limits, agentProgram: agentProgram, specPath: specPath, listener: listener)
    }

    func agentPID(mainPID: UInt32) -> UInt32? { mainPID == 0 ? nil : mainPID }

    func reset(_ definition: WorkspaceDefinition, home: Bool) throws(BrokerError) {
        throw BrokerError.badRequest("\(definition.identity.displayName) runs on the host: it has no layer of its own to reset (reset is for container workspaces)")
    }

    func removeData(_ definition: WorkspaceDefinition) throws(BrokerError) {}
}
