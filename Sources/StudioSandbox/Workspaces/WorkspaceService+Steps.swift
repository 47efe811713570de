import StudioCore
import StudioNet
import StudioStore

extension WorkspaceService {
    /// The owner's account and the validated name; a refusal is audited as a permission denial.
    func resolve(_ target: WorkspaceTarget, caller: PeerCredentials, event: AuditEvent?) async throws -> (UserAccount, WorkspaceName) {
        let name = try WorkspaceName(target.name)
        do {
            return (try authorizer.owner(for: caller, requested: target.owner), name)
        } catch {
            audit.record(.permissionDenied, owner: target.owner, workspace: name.rawValue, caller: caller, result: "denied",
                         reason: "\(event?.rawValue ?? "status"): \(error.message)")
            throw error
        }
    }

    func resolve(owner: String?, caller: PeerCredentials) async throws -> UserAccount {
        do {
            return try authorizer.owner(for: caller, requested: owner)
        } catch {
            audit.record(.permissionDenied, owner: owner, workspace: nil, caller: caller, result: "denied", reason: "list: \(error.message)")
            throw error
        }
    }

    func locked<T: Sendable>(_ owner: UserAccount, _ name: WorkspaceName, _ body: @Sendable () async throws -> T) async throws -> T {
        try await locks.withLock("\(owner.uid)-\(name)", body)
    }

    /// Runs `body` and writes the audit entry for its outcome.
    func audited<T>(_ event: AuditEvent, _ owner: UserAccount, _ name: WorkspaceName, _ caller: PeerCredentials, _ body: () async throws -> T) async throws -> T {
        do {
            let result = try await body()
            audit.record(event, owner: owner.name, workspace: name.rawValue, caller: caller, result: "success")
            return result
        } catch {
            audit.record(event, owner: owner.name, workspace: name.rawValue, caller: caller, result: "failure", reason: "\(error)")
            throw error
        }
    }

    func find(_ owner: UserAccount, _ name: WorkspaceName) throws -> WorkspaceDefinition? {
        try environment.store.find(uid: owner.uid, name: name)
    }

    func require(_ owner: UserAccount, _ name: WorkspaceName) throws -> WorkspaceDefinition {
        guard let definition = try find(owner, name) else { throw WorkspaceError.notFound(name.rawValue) }
        return definition
    }

    /// Validates everything, then stores the row: a bad directory, template or limit stores nothing.
    func makeDefinition(_ params: CreateParams, owner: UserAccount, name: WorkspaceName) throws -> WorkspaceDefinition {
        guard let directory = params.projectDirectory else {
            throw WorkspaceError.projectDirectory(path: "(none)", problem: "was not given; pass the project directory to create a workspace")
        }
        let config = try environment.loadConfig()
        let templateName = params.template ?? config.defaultTemplate
        _ = try environment.loadTemplates().template(templateName)
        let limits = params.limits ?? ResourceLimits()
        try LimitsPolicy(config: config).check(requested: limits)
        let definition = WorkspaceDefinition(
            identity: WorkspaceIdentity(owner: owner.name, uid: owner.uid, name: name),
            projectDirectory: try ProjectDirectory.validate(directory, for: owner),
            template: templateName, limits: limits, createdAt: environment.now())
        try environment.store.insert(definition)
        return definition
    }

    /// Starts the unit unless it runs; true when it was running already. On failure nothing is left running and
    /// the runtime directory is gone.
    func launch(_ definition: WorkspaceDefinition, owner: UserAccount) async throws -> Bool {
        let unit = definition.identity.unitName
        if let status = try await environment.units.status(of: unit) {
            if status.isRunning { return true }
            if status.activeState == "failed" { try await environment.units.resetFailed(unit) }
        }
        // The project directory may have gone or changed permissions since the workspace was created.
        _ = try ProjectDirectory.validate(definition.projectDirectory, for: owner)
        let config = try environment.loadConfig()
        let template = try environment.loadTemplates().template(definition.template)
        let limits = try effectiveLimits(definition, config: config)
        let agent = UnitSpecBuilder.agentSpec(
            for: definition, owner: owner, template: template,
            runtimeDirectory: environment.runtime.directory(for: definition.identity))
        let specPath = try environment.runtime.prepare(agent, owner: owner)
        do {
            try await environment.units.startTransientService(UnitSpecBuilder.spec(
                for: definition, owner: owner, limits: limits, agentProgram: environment.agentProgram, specPath: specPath))
        } catch {
            environment.runtime.remove(definition.identity)
            throw error
        }
        return false
    }

    /// Stops the unit; true when it was running.
    func halt(_ definition: WorkspaceDefinition) async throws -> Bool {
        let unit = definition.identity.unitName
        let wasRunning = try await environment.units.status(of: unit)?.isRunning ?? false
        try await environment.units.stopUnit(unit)
        try await environment.units.resetFailed(unit)
        environment.runtime.remove(definition.identity)
        return wasRunning
    }

    func effectiveLimits(_ definition: WorkspaceDefinition, config: StudioConfig) throws -> ResourceLimits {
        let template = try environment.loadTemplates().template(definition.template)
        return LimitsPolicy(config: config).effective(template: template.limits, workspace: definition.limits)
    }

    func unitStatus(_ definition: WorkspaceDefinition) async throws -> UnitStatus? {
        try await environment.units.status(of: definition.identity.unitName)
    }

    /// The workspace with systemd's view; limits fall back to the stored ones if the template has gone.
    func info(_ definition: WorkspaceDefinition) async throws -> WorkspaceInfo {
        let limits = (try? effectiveLimits(definition, config: environment.loadConfig())) ?? definition.limits
        return WorkspaceInfo(definition: definition, unitStatus: try await unitStatus(definition), limits: limits)
    }

    func loadConfig() throws -> StudioConfig { try environment.loadConfig() }
    func loadTemplates() throws -> TemplateCatalog { try environment.loadTemplates() }
}
