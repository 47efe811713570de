import Logging
import NIOPosix
import StudioCore
import StudioNet
import StudioStore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

extension WorkspaceService {
    /// The owner's account and the validated name; a refusal is audited as a permission denial.
    /// `settings`: the request's configuration, when it starts programs (its `[Access] Group=` is checked).
    func resolve(
        _ target: WorkspaceTarget, caller: PeerCredentials, event: AuditEvent?, purpose: Authorizer.Purpose = .other, what: String? = nil,
        settings: RequestSettings? = nil
    ) async throws -> (UserAccount, WorkspaceName) {
        let name = try WorkspaceName(target.name)
        let owner = try await resolve(
            owner: target.owner, caller: caller, purpose: purpose, what: what ?? event?.rawValue ?? "status", workspace: name.rawValue,
            settings: settings)
        return (owner, name)
    }

    func resolve(
        owner: String?, caller: PeerCredentials, purpose: Authorizer.Purpose = .other, what: String = "list", workspace: String? = nil,
        settings: RequestSettings? = nil
    ) async throws -> UserAccount {
        let settings = settings ?? RequestSettings(environment)
        do {
            return try await blocking { () throws(BrokerError) in
                try authorizer.owner(for: caller, requested: owner, purpose: purpose) { () throws(BrokerError) in
                    do {
                        return try settings.get().config.accessGroup
                    } catch {
                        throw Broker.brokerError(error)
                    }
                }
            }
        } catch let error as BrokerError {
            if error.code == .forbidden {
                audit.record(.permissionDenied, owner: owner, workspace: workspace, caller: caller, result: "denied", reason: "\(what): \(error.message)")
            }
            throw error
        }
    }

    /// Runs blocking file and database work on NIO's thread pool, off the threads that serve other requests.
    func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await NIOThreadPool.singleton.runIfActive(body)
    }

    func locked<T: Sendable>(_ owner: UserAccount, _ name: WorkspaceName, _ body: @Sendable () async throws -> T) async throws -> T {
        try await locks.withLock("\(owner.uid)-\(name)", body)
    }

    /// Runs `body` and writes the audit entry for its outcome (with `note`, the caller's reason, if it gave one).
    func audited<T>(
        _ event: AuditEvent, _ owner: UserAccount, _ name: WorkspaceName, _ caller: PeerCredentials, note: String? = nil,
        fields: Logger.Metadata = [:], _ body: () async throws -> T
    ) async throws -> T {
        do {
            let result = try await body()
            audit.record(event, owner: owner.name, workspace: name.rawValue, caller: caller, result: "success", reason: note, fields: fields)
            return result
        } catch {
            audit.record(event, owner: owner.name, workspace: name.rawValue, caller: caller, result: "failure",
                         reason: note.map { "\($0); failed: \(error)" } ?? "\(error)", fields: fields)
            throw error
        }
    }

    func find(_ owner: UserAccount, _ name: WorkspaceName) async throws -> WorkspaceDefinition? {
        let store = environment.store
        return try await blocking { try store.find(uid: owner.uid, name: name) }
    }

    func require(_ owner: UserAccount, _ name: WorkspaceName) async throws -> WorkspaceDefinition {
        guard let definition = try await find(owner, name) else { throw WorkspaceError.notFound(name.rawValue) }
        return definition
    }

    /// The configuration and templates, read once per request (so that admin edits apply without a restart).
    struct Settings: Sendable {
        let config: StudioConfig
        let templates: TemplateCatalog
        let policy: LimitsPolicy

        /// The idle timeout in force: its own, else its template's, else `[Idle] Timeout=`.
        func idleTimeout(of definition: WorkspaceDefinition) -> Double {
            definition.idleTimeoutSeconds ?? (try? templates.template(definition.template).idleTimeoutSeconds) ?? config.idleTimeoutSeconds
        }

        /// The limits a workspace's unit gets.
        func limits(of definition: WorkspaceDefinition) throws -> ResourceLimits {
            policy.effective(template: try templates.template(definition.template).limits, workspace: definition.limits)
        }
    }

    /// The request's settings (read now, or reused if its authorization read them already).
    func loadSettings(_ settings: RequestSettings? = nil) async throws -> Settings {
        let settings = settings ?? RequestSettings(environment)
        return try await blocking { try settings.get() }
    }

    /// Validates everything, then stores the row: a bad directory, template or limit stores nothing.
    func makeDefinition(_ params: CreateParams, owner: UserAccount, name: WorkspaceName, settings: Settings) async throws -> WorkspaceDefinition {
        let environment = self.environment
        var made: String?
        if params.createDirectory == true, let directory = params.projectDirectory {
            // Checked first, so that a refused create makes no directory.
            _ = try settings.templates.template(params.template ?? settings.config.defaultTemplate)
            try settings.policy.check(requested: params.limits ?? ResourceLimits())
            if try await find(owner, name) != nil { throw WorkspaceError.alreadyExists(name.rawValue) }
            made = try await makeDirectoryIfMissing(directory, owner: owner, name: name)
        }
        do {
            return try await blocking { try Self.makeDefinition(params, owner: owner, name: name, settings: settings, environment: environment) }
        } catch {
            if let made { _ = try? await runAsOwner(["/bin/rmdir", "--", made], owner: owner, name: name, what: "rmdir") }
            throw error
        }
    }

    /// Makes a missing project directory as its owner would with `mkdir` (a short transient unit as them: the broker
    /// itself never writes in a home, which it sees read-only); the path made, or nil when it existed.
    func makeDirectoryIfMissing(_ directory: String, owner: UserAccount, name: WorkspaceName) async throws -> String? {
        guard directory.hasPrefix("/") else { throw WorkspaceError.projectDirectory(path: directory, problem: "is not an absolute path") }
        let exists = try await blocking { () -> Bool in
            var info = stat()
            return lstat(directory, &info) == 0
        }
        if exists { return nil }
        do {
            try await runAsOwner(["/bin/mkdir", "--", directory], owner: owner, name: name, what: "mkdir")
        } catch {
            throw WorkspaceError.projectDirectory(path: directory, problem: "does not exist and \(owner.name) cannot create it (is its parent there and theirs?); create it first")
        }
        return directory
    }

    /// Runs one short command as the owner in a transient unit and waits for it to succeed.
    func runAsOwner(_ argv: [String], owner: UserAccount, name: WorkspaceName, what: String) async throws {
        let identity = WorkspaceIdentity(owner: owner.name, uid: owner.uid, name: name)
        let spec = TransientServiceSpec(
            name: "studio-\(what)-\(identity.id).service", description: "Studio: \(what) for \(identity.displayName)",
            slice: identity.sliceName, user: owner.name, workingDirectory: "/", argv: argv, environment: [:], limits: ResourceLimits(),
            booleanProperties: [:], stringProperties: ["Type": "oneshot"], notifyReady: false)
        try await environment.units.startTransientService(spec)
    }

    static func makeDefinition(
        _ params: CreateParams, owner: UserAccount, name: WorkspaceName, settings: Settings, environment: BrokerEnvironment
    ) throws -> WorkspaceDefinition {
        guard let directory = params.projectDirectory else {
            throw WorkspaceError.projectDirectory(path: "(none)", problem: "was not given; pass the project directory to create a workspace")
        }
        let templateName = params.template ?? settings.config.defaultTemplate
        _ = try settings.templates.template(templateName)
        let limits = params.limits ?? ResourceLimits()
        try settings.policy.check(requested: limits)
        let definition = WorkspaceDefinition(
            identity: WorkspaceIdentity(owner: owner.name, uid: owner.uid, name: name),
            projectDirectory: try ProjectDirectory.validate(directory, for: owner),
            template: templateName, limits: limits, createdAt: environment.now())
        try environment.store.insert(definition)
        return definition
    }

    /// Starts the unit unless it runs; true when it was running already. On failure nothing is left running and
    /// the runtime directory is gone.
    func launch(_ definition: WorkspaceDefinition, owner: UserAccount, settings: Settings) async throws -> Bool {
        let unit = definition.identity.unitName
        if let status = try await environment.units.status(of: unit) {
            if status.isRunning { return true }
            if status.activeState == "failed" { try await environment.units.resetFailed(unit) }
        }
        let template = try settings.templates.template(definition.template)
        let limits = try settings.limits(of: definition)
        let store = environment.store
        var assigned = definition
        if template.backend == .container, definition.uidBase == nil {
            let (uid, name) = (owner.uid, definition.identity.name)
            assigned.uidBase = try await blocking { try store.uidBase(uid: uid, name: name) }
        }
        let definition = assigned
        let backend = backend(for: template)
        let context = LaunchContext(
            definition: definition, owner: owner, template: template, limits: limits,
            runtimeDirectory: environment.runtime.directory(for: definition.identity))
        let agent = backend.agentSpec(context)
        let runtime = environment.runtime
        let prepared = try await blocking {
            // The project directory may have gone or changed permissions since the workspace was created.
            _ = try ProjectDirectory.validate(definition.projectDirectory, for: owner)
            try backend.prepare(context)
            return try runtime.prepare(agent, owner: owner, specOwner: backend.specReader(context))
        }
        defer { close(prepared.listener) }
        let startedAt = UInt64(environment.now() * 1_000_000)
        do {
            try await environment.units.startTransientService(backend.unit(context, specPath: prepared.specPath, listener: prepared.listener))
        } catch {
            try? await blocking { try runtime.remove(definition.identity) }
            // What the unit itself said (nspawn refusing a network, a mount the kernel refused) says more than the
            // exit status: a container's unit logs as root and as its range.
            if template.backend == .container, let base = definition.uidBase {
                let unit = definition.identity.unitName, uids = [0, base, base + owner.uid]
                if let said = try? await blocking({ UnitLogs.lastError(unit: unit, uids: uids, since: startedAt) }) {
                    throw BrokerError.systemd("\(definition.identity.displayName) could not start: \(said) (journalctl -u \(unit))")
                }
            }
            throw error
        }
        if definition.idleStop != nil {
            let store = environment.store
            try? await blocking { try store.updateIdleStop(uid: owner.uid, name: definition.identity.name, stop: nil) }
        }
        return false
    }

    /// Stops the unit; true when it was running.
    func halt(_ definition: WorkspaceDefinition) async throws -> Bool {
        let unit = definition.identity.unitName
        let wasRunning = try await environment.units.status(of: unit)?.isRunning ?? false
        try await environment.units.stopUnit(unit)
        try await environment.units.resetFailed(unit)
        let runtime = environment.runtime
        try await blocking { try runtime.remove(definition.identity) }
        return wasRunning
    }

    /// The backend a template runs on.
    func backend(for template: Template) -> any WorkspaceBackend {
        switch template.backend {
        case .host: HostBackend(agentProgram: environment.agentProgram)
        case .container:
            ContainerBackend(
                dataRoot: environment.workspaceDataRoot, imageDirectory: environment.imageDirectory, agentProgram: environment.agentProgram,
                sandboxProgram: environment.sandboxProgram, nspawn: environment.nspawn)
        }
    }

    /// The backend of a workspace's template; a workspace that has (or had) a uid range is a container one even
    /// if its template has gone or changed, so that its data is found.
    func backend(of definition: WorkspaceDefinition, settings: Settings?) -> (any WorkspaceBackend, Template?) {
        let template = try? settings?.templates.template(definition.template)
        if let template { return (backend(for: template), template) }
        let fallback = Template(name: definition.template, backend: definition.uidBase == nil ? .host : .container)
        return (backend(for: fallback), nil)
    }

    func unitStatus(_ definition: WorkspaceDefinition) async throws -> UnitStatus? {
        try await environment.units.status(of: definition.identity.unitName)
    }

    /// The workspace with systemd's view and studio-idled's (`report`: read once per request; nil reads it now).
    /// Without settings (a broken config must not hide what runs), or when its template has gone, the limits shown
    /// are the workspace's own.
    func info(_ definition: WorkspaceDefinition, settings: Settings?, report: IdleReport?? = nil) async throws -> WorkspaceInfo {
        let limits = (try? settings?.limits(of: definition)) ?? definition.limits
        let report: IdleReport? = if let report { report } else { try await idleReport() }
        let status = try await unitStatus(definition)
        let (backend, template) = backend(of: definition, settings: settings)
        let agentPID: UInt32? = if let status, status.isRunning {
            await (try? blocking { backend.agentPID(mainPID: status.mainPID) }) ?? nil
        } else {
            nil
        }
        return WorkspaceInfo(
            definition: definition, unitStatus: status, limits: limits,
            idleTimeoutSeconds: settings.map { $0.idleTimeout(of: definition) } ?? definition.idleTimeoutSeconds ?? 0,
            idle: report?.workspaces[definition.identity.unitName],
            backend: template?.backend ?? (definition.uidBase == nil ? nil : .container), image: template?.image?.rawValue,
            agentPID: agentPID)
    }

    /// What studio-idled published, unless it is missing or stale (studio-idled not running).
    func idleReport() async throws -> IdleReport? {
        let read = environment.readIdleReport
        let now = environment.now()
        return try await blocking {
            guard let report = read(), now - report.generatedAt < IdleReport.staleAfterSeconds else { return nil }
            return report
        }
    }
}

/// The configuration and templates of one request, read at most once however many of its steps need them (its
/// authorization needs `[Access] Group=`, the rest limits and templates). Read on a blocking thread.
final class RequestSettings: Sendable {
    private let environment: BrokerEnvironment
    private let loaded = Mutex<WorkspaceService.Settings?>(nil)

    init(_ environment: BrokerEnvironment) { self.environment = environment }

    func get() throws -> WorkspaceService.Settings {
        try loaded.withLock { loaded in
            if let loaded { return loaded }
            let config = try environment.loadConfig()
            let settings = WorkspaceService.Settings(
                config: config, templates: try environment.loadTemplates(), policy: LimitsPolicy(config: config))
            loaded = settings
            return settings
        }
    }
}
