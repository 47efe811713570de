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

    /// String-valued properties. Other users' processes are invisible inside a workspace (their command lines carry
    /// API keys passed to AI agents' CLIs, and more). A process the kernel OOM-kills for passing `MemoryMax` is one
    /// process: the workspace (its agent, terminals, apps) lives on, instead of systemd's default for services
    /// (`OOMPolicy=stop`), which would end all of it.
    static let stringProperties: [String: String] = [
        "ProtectProc": "invisible",
        "OOMPolicy": "continue",
        // /usr, /boot and /etc read-only even for what the owner could write there (nothing, normally); /var, /srv,
        // /opt and the homes stay as the owner's permissions make them, where projects live.
        "ProtectSystem": "full",
    ]

    /// The unit; `listener` is the agent's listening socket (its standard input).
    static func spec(
        for definition: WorkspaceDefinition, owner: UserAccount, limits: ResourceLimits, agentProgram: String, specPath: String,
        listener: Int32?
    ) -> TransientServiceSpec {
        let identity = definition.identity
        return TransientServiceSpec(
            name: identity.unitName,
            description: "Studio workspace \(identity.displayName)",
            slice: identity.sliceName,
            user: owner.name,
            workingDirectory: definition.projectDirectory,
            argv: [agentProgram, "--spec", specPath] + (listener == nil ? [] : ["--listen-stdin"]),
            environment: [
                "STUDIO_WORKSPACE": identity.name.rawValue,
                "STUDIO_OWNER": identity.owner,
                "STUDIO_PROJECT_DIR": definition.projectDirectory,
            ],
            limits: limits,
            booleanProperties: sandboxing,
            stringProperties: stringProperties,
            notifyReady: true,
            standardInput: listener)
    }

    /// What the agent is told.
    static func agentSpec(for definition: WorkspaceDefinition, owner: UserAccount, template: Template, runtimeDirectory: String) -> AgentSpec {
        AgentSpec(
            workspace: definition.identity,
            projectDirectory: definition.projectDirectory,
            socketPath: "\(runtimeDirectory)/agent.sock",
            // An empty shell field means /bin/sh (passwd(5)); accounts without a login shell get no workspace.
            shell: owner.shell.isEmpty ? "/bin/sh" : owner.shell,
            // In the unit's private /tmp: the runtime directory is root's, and /run is no place a user may fill.
            appDirectory: "/tmp/studio-apps",
            environment: template.environment,
            apps: template.apps,
            terminals: template.terminals)
    }
}
