import Logging
import StudioCore
import StudioNet
import StudioStore

/// The workspace operations behind the broker's requests. Each checks who is asking, does the work with the store
/// and systemd, and writes an audit entry; a failed create or start leaves neither a row nor a unit behind.
struct WorkspaceService: Sendable {
    let environment: BrokerEnvironment
    let authorizer: Authorizer
    let audit: Audit
    let locks = KeyedLock()

    init(environment: BrokerEnvironment, logger: Logger) {
        self.environment = environment
        self.authorizer = Authorizer(studioUID: environment.studioUID, idledUID: environment.idledUID, accounts: environment.accounts)
        self.audit = Audit(logger: logger)
    }

    // MARK: Requests

    func create(_ params: CreateParams, caller: PeerCredentials) async throws -> StartResult {
        let request = RequestSettings(environment)
        let (owner, name) = try await resolve(params.target, caller: caller, event: .workspaceCreate, purpose: .start, settings: request)
        return try await locked(owner, name) { () throws -> StartResult in
            let settings = try await loadSettings(request)
            let definition = try await audited(.workspaceCreate, owner, name, caller) {
                try await makeDefinition(params, owner: owner, name: name, settings: settings)
            }
            return StartResult(workspace: try await info(definition, settings: settings), created: true, alreadyRunning: false)
        }
    }

    /// Starts a workspace, creating it first when it does not exist and a project directory was given.
    func start(_ params: CreateParams, caller: PeerCredentials) async throws -> StartResult {
        let request = RequestSettings(environment)
        let (owner, name) = try await resolve(params.target, caller: caller, event: .workspaceStart, purpose: .start, settings: request)
        return try await locked(owner, name) { () throws -> StartResult in
            let settings = try await loadSettings(request)
            var created = false
            let definition: WorkspaceDefinition
            if let existing = try await find(owner, name) {
                definition = existing
            } else {
                guard params.projectDirectory != nil else { throw WorkspaceError.notFound(name.rawValue) }
                definition = try await audited(.workspaceCreate, owner, name, caller) {
                    try await makeDefinition(params, owner: owner, name: name, settings: settings)
                }
                created = true
            }
            do {
                let alreadyRunning = try await audited(.workspaceStart, owner, name, caller) {
                    try await launch(definition, owner: owner, settings: settings)
                }
                return StartResult(workspace: try await info(definition, settings: settings), created: created, alreadyRunning: alreadyRunning)
            } catch {
                // Created by this request and could not start: take the row back, so nothing is half-created.
                if created {
                    let store = environment.store
                    _ = try? await blocking { try store.delete(uid: owner.uid, name: name) }
                }
                throw error
            }
        }
    }

    func stop(_ params: StopParams, caller: PeerCredentials) async throws -> Done {
        let reason = try StopParams.checkedReason(params.reason)
        let (owner, name) = try await resolve(params.target, caller: caller, event: .workspaceStop, purpose: .stop)
        if caller.uid == environment.idledUID, reason == nil {
            throw BrokerError.badRequest("studio-idled must say why it stops a workspace (\"reason\")")
        }
        return try await locked(owner, name) { () throws -> Done in
            let definition = try await require(owner, name)
            let wasRunning = try await audited(.workspaceStop, owner, name, caller, note: reason) {
                try await halt(definition)
            }
            return Done(wasRunning ? "stopped \(definition.identity.displayName)" : "\(definition.identity.displayName) was not running")
        }
    }

    func restart(_ target: WorkspaceTarget, caller: PeerCredentials) async throws -> StartResult {
        let request = RequestSettings(environment)
        let (owner, name) = try await resolve(target, caller: caller, event: .workspaceStart, purpose: .start, what: "restart", settings: request)
        return try await locked(owner, name) { () throws -> StartResult in
            let definition = try await require(owner, name)
            let settings = try await loadSettings(request)
            _ = try await audited(.workspaceStop, owner, name, caller) { try await halt(definition) }
            _ = try await audited(.workspaceStart, owner, name, caller) {
                try await launch(definition, owner: owner, settings: settings)
            }
            return StartResult(workspace: try await info(definition, settings: settings), created: false, alreadyRunning: false)
        }
    }

    func delete(_ target: WorkspaceTarget, caller: PeerCredentials) async throws -> Done {
        let (owner, name) = try await resolve(target, caller: caller, event: .workspaceDelete)
        return try await locked(owner, name) { () throws -> Done in
            let definition = try await require(owner, name)
            try await audited(.workspaceDelete, owner, name, caller) {
                _ = try await halt(definition)
                let store = environment.store
                try await blocking { try store.delete(uid: owner.uid, name: name) }
            }
            return Done("deleted \(definition.identity.displayName); \(definition.projectDirectory) was left as it is")
        }
    }

    func status(_ target: WorkspaceTarget, caller: PeerCredentials) async throws -> WorkspaceInfo {
        let (owner, name) = try await resolve(target, caller: caller, event: nil)
        return try await info(await require(owner, name), settings: try? await loadSettings())
    }

    func list(_ params: ListParams, caller: PeerCredentials) async throws -> WorkspaceList {
        let uid: UInt32?
        if params.all {
            guard authorizer.mayListAll(caller) else {
                audit.record(.permissionDenied, owner: nil, workspace: nil, caller: caller, result: "denied", reason: "list --all")
                throw BrokerError.forbidden("only root may list everyone's workspaces")
            }
            uid = nil
        } else {
            uid = try await resolve(owner: params.owner, caller: caller).uid
        }
        let store = environment.store
        let definitions = try await blocking { try store.list(uid: uid) }
        var infos: [WorkspaceInfo] = []
        let settings = try? await loadSettings()
        for definition in definitions { infos.append(try await info(definition, settings: settings)) }
        return WorkspaceList(workspaces: infos)
    }

    func set(_ params: SetParams, caller: PeerCredentials) async throws -> WorkspaceInfo {
        let request = RequestSettings(environment)
        let (owner, name) = try await resolve(params.target, caller: caller, event: .workspaceLimits, purpose: .start, settings: request)
        return try await locked(owner, name) { () throws -> WorkspaceInfo in
            let definition = try await require(owner, name)
            let settings = try await loadSettings(request)
            try await audited(.workspaceLimits, owner, name, caller) {
                try settings.policy.check(requested: params.limits)
                let own = definition.limits.overridden(by: params.limits)
                let store = environment.store
                try await blocking { try store.updateLimits(uid: owner.uid, name: name, limits: own) }
                var updated = definition
                updated.limits = own
                let effective = try settings.limits(of: updated)
                if let status = try await unitStatus(definition), status.isRunning {
                    try await environment.units.setLimits(effective, on: definition.identity.unitName)
                }
            }
            return try await info(await require(owner, name), settings: settings)
        }
    }

    /// The templates, without their environment values: those may be secrets (API tokens) of the workspaces that
    /// use them, and reach a workspace's owner through its agent spec only.
    func templates(caller: PeerCredentials) async throws -> TemplateList {
        _ = try await resolve(owner: nil, caller: caller, what: "templates")
        let settings = try await loadSettings()
        let catalog = settings.templates
        let templates = catalog.names.compactMap { catalog.templates[$0] }.map { template in
            var listed = template
            listed.environment = template.environment.mapValues { _ in "" }
            listed.apps = template.apps.map { app in
                var listed = app
                listed.environment = app.environment.mapValues { _ in "" }
                return listed
            }
            return listed
        }
        return TemplateList(templates: templates, defaultTemplate: settings.config.defaultTemplate)
    }
}
