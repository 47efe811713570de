import StudioCore

/// Turns a workspace into the transient service systemd runs.
enum UnitSpecBuilder {
    /// Sandboxing a development workspace can live with (see docs/architecture.md, "Workspace units"):
    /// the kernel, clock, hostname and cgroup tree are off limits and `/tmp` is private, but the user's files,
    /// network, namespaces (rootless containers, bubblewrap) and JIT compilers keep working.
    static let sandboxing: [String: Bool] = [
        "PrivateTmp": true,
        "ProtectKernelTunables": true,
        "ProtectKernelModules": true,
        "ProtectKernelLogs": true,
        "ProtectControlGroups": true,
        "ProtectClock": true,
        "ProtectHostname": true,
        "RestrictRealtime": true,
        "LockPersonality": true,
        "RestrictSUIDSGID": true,
        "NoNewPrivileges": true,
    ]

    static func spec(
        for definition: WorkspaceDefinition, owner: UserAccount, limits: ResourceLimits, agentProgram: String, specPath: String
    ) -> TransientServiceSpec {
        let identity = definition.identity
        return TransientServiceSpec(
            name: identity.unitName,
            description: "Studio workspace \(identity.displayName)",
            slice: identity.sliceName,
            user: owner.name,
            workingDirectory: definition.projectDirectory,
            argv: [agentProgram, "agent", "--spec", specPath],
            environment: [
                "STUDIO_WORKSPACE": identity.name.rawValue,
                "STUDIO_OWNER": identity.owner,
                "STUDIO_PROJECT_DIR": definition.projectDirectory,
            ],
            limits: limits,
            booleanProperties: sandboxing,
            notifyReady: true)
    }

    /// What the agent is told.
    static func agentSpec(for definition: WorkspaceDefinition, owner: UserAccount, template: Template, runtimeDirectory: String) -> AgentSpec {
        AgentSpec(
            workspace: definition.identity,
            projectDirectory: definition.projectDirectory,
            socketPath: "\(runtimeDirectory)/agent.sock",
            shell: owner.shell.isEmpty || owner.shell.hasSuffix("nologin") || owner.shell.hasSuffix("false") ? "/bin/sh" : owner.shell,
            environment: template.environment,
            apps: template.apps,
            terminals: template.terminals)
    }
}
