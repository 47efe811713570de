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
                    let (backend, _) = backend(of: definition, settings: settings)
                    _ = try? await blocking { try backend.removeData(definition) }
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
        // studio-idled's stop says since when the workspace was idle; it is shown with the stopped workspace.
        let idleSince = caller.uid == environment.idledUID ? params.idleSince.flatMap { $0.isFinite ? $0 : nil } : nil
        return try await locked(owner, name) { () throws -> Done in
            let definition = try await require(owner, name)
            let fields: Logger.Metadata = idleSince.map { ["studio_idle_since": "\(Int($0))"] } ?? [:]
            let wasRunning = try await audited(.workspaceStop, owner, name, caller, note: reason, fields: fields) {
                try await halt(definition)
            }
            if let idleSince, wasRunning {
                let store = environment.store
                let stop = IdleStop(at: environment.now(), idleSince: idleSince)
                try await blocking { try store.updateIdleStop(uid: owner.uid, name: name, stop: stop) }
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
            let settings = try? await loadSettings()
            try await audited(.workspaceDelete, owner, name, caller) {
                _ = try await halt(definition)
                // A container workspace's layer and home go with it (the project directory stays).
                let (backend, _) = backend(of: definition, settings: settings)
                try await blocking { try backend.removeData(definition) }
                let store = environment.store
                try await blocking { try store.delete(uid: owner.uid, name: name) }
            }
            return Done("deleted \(definition.identity.displayName); \(definition.projectDirectory) was left as it is")
        }
    }

    /// The workspace's state. `purpose`: `.status` for the `status` request itself (studio-idled may ask it), `.other`
    /// when another request (logs, connect) looks the workspace up.
    func status(_ target: WorkspaceTarget, caller: PeerCredentials, purpose: Authorizer.Purpose = .other) async throws -> WorkspaceInfo {
        let (owner, name) = try await resolve(target, caller: caller, event: nil, purpose: purpose)
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
        let report = try await idleReport()
        for definition in definitions { infos.append(try await info(definition, settings: settings, report: .some(report))) }
        return WorkspaceList(workspaces: infos)
    }

    func set(_ params: SetParams, caller: PeerCredentials) async throws -> WorkspaceInfo {
        let request = RequestSettings(environment)
        let (owner, name) = try await resolve(params.target, caller: caller, event: .workspaceLimits, purpose: .start, settings: request)
        return try await locked(owner, name) { () throws -> WorkspaceInfo in
            let definition = try await require(owner, name)
            let settings = try await loadSettings(request)
            let idleTimeout = try SetParams.checkedIdleTimeout(params.idleTimeoutSeconds)
            let note = idleTimeout.map { "idle timeout \($0 == 0 ? "never" : "\(Int($0)) s")" }
            try await audited(.workspaceLimits, owner, name, caller, note: note) {
                try settings.policy.check(requested: params.limits)
                let own = definition.limits.overridden(by: params.limits)
                let store = environment.store
                try await blocking {
                    try store.updateLimits(uid: owner.uid, name: name, limits: own)
                    if let idleTimeout { try store.updateIdleTimeout(uid: owner.uid, name: name, seconds: idleTimeout) }
                }
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

    /// Postpones stopping a running workspace for idleness until `seconds` from now (0 ends an earlier keep). The
    /// audit entry carries the deadline (`STUDIO_KEEP_UNTIL`); studio-idled reads it from there, also when it
    /// reads the journal back after a restart. A keep holds for this run of the workspace: a stop ends it.
    func keep(_ params: KeepParams, caller: PeerCredentials) async throws -> KeepResult {
        guard params.seconds.isFinite, KeepParams.range.contains(params.seconds) else {
            throw BrokerError.badRequest("keep takes from 0 (end the keep) to 30 days; got \(params.seconds) s")
        }
        let (owner, name) = try await resolve(params.target, caller: caller, event: .workspaceKeep)
        return try await locked(owner, name) { () throws -> KeepResult in
            let definition = try await require(owner, name)
            let until = params.seconds == 0 ? nil : (environment.now() + params.seconds).rounded(.up)
            let fields: Logger.Metadata = ["studio_keep_until": "\(Int(until ?? environment.now().rounded(.down)))"]
            try await audited(.workspaceKeep, owner, name, caller, note: until == nil ? "keep ended" : "kept for \(Int(params.seconds)) s", fields: fields) {
                guard try await unitStatus(definition)?.isRunning == true else {
                    throw BrokerError.conflict("workspace \"\(name)\" is not running; a keep holds for a running workspace (start it first)")
                }
            }
            return KeepResult(workspace: try await info(definition, settings: try? await loadSettings()), keepUntil: until)
        }
    }

    /// Drops a stopped container workspace's own layer (what root installed or changed inside), and with `home`
    /// its home; the next start begins again from the image. The project directory is never touched.
    func reset(_ params: ResetParams, caller: PeerCredentials) async throws -> WorkspaceInfo {
        let (owner, name) = try await resolve(params.target, caller: caller, event: .workspaceReset)
        return try await locked(owner, name) { () throws -> WorkspaceInfo in
            let definition = try await require(owner, name)
            let settings = try? await loadSettings()
            let note = params.home == true ? "layer and home" : "layer"
            try await audited(.workspaceReset, owner, name, caller, note: note) {
                if let status = try await unitStatus(definition), status.isRunning || status.activeState == "activating" || status.activeState == "deactivating" {
                    throw BrokerError.conflict("workspace \"\(name)\" is running; stop it first (`studioctl stop \(name)`), then reset it")
                }
                let (backend, _) = backend(of: definition, settings: settings)
                try await blocking { try backend.reset(definition, home: params.home == true) }
            }
            return try await info(definition, settings: settings)
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
