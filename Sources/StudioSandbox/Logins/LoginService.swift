import Logging
import NIOPosix
import StudioAuth
import StudioCore
import StudioCrypto
import StudioNet
import StudioStore

/// Web logins: PAM in the broker, grants that studiod acts with, and their end.
///
/// A grant's token goes to studiod once (it becomes the session cookie); the broker keeps its SHA-256 in studio.db
/// with the user, the address, and when it ends. studiod holds no identity of its own that reaches a workspace: it
/// presents the token with each request, and the broker acts as the user it was issued for, or refuses.
struct LoginService: Sendable {
    let environment: BrokerEnvironment
    let audit: Audit
    let logger: Logger
    /// Runs PAM; tests replace it.
    let authenticate: @Sendable (_ user: String, _ password: String, _ remote: String) -> PAMAuthenticator.Outcome

    init(environment: BrokerEnvironment, audit: Audit, logger: Logger) {
        self.environment = environment
        self.audit = audit
        self.logger = logger
        self.authenticate = environment.authenticate ?? { user, password, remote in
            PAMAuthenticator.authenticate(service: "studio", user: user, password: password, remoteHost: remote)
        }
    }

    /// The one message for every refused login, so that accounts cannot be probed.
    static let refusal = "wrong user name or password"

    func login(_ params: LoginParams, caller: PeerCredentials) async throws -> LoginResult {
        guard caller.uid == environment.studioUID || caller.uid == 0 else {
            throw BrokerError.forbidden("only studiod may log users in")
        }
        let remote = Audit.oneLine(String(params.remoteAddress.prefix(100)))
        let user = params.username
        guard UserName.isValid(user), params.password.utf8.count <= LoginParams.maxPasswordLength, !params.password.isEmpty,
              !params.password.utf8.contains(0) else {
            record(.login, user: UserName.isValid(user) ? user : nil, remote: remote, caller: caller, result: "failure", reason: "malformed user name or password")
            throw BrokerError.unauthorized(Self.refusal)
        }
        let store = environment.store
        let now = environment.now()
        let since = now - LoginPolicy.failureWindowSeconds
        let accountKey = "user:\(user)", addressKey = "addr:\(remote)"
        let (accountFailures, addressFailures) = try await blocking { () throws in
            try store.pruneGrants(now: now, failuresBefore: since)
            return (try store.loginFailures(key: accountKey, since: since), try store.loginFailures(key: addressKey, since: since))
        }
        if let wait = Self.lockout(accountFailures, limit: LoginPolicy.failuresPerAccount, now: now)
            ?? Self.lockout(addressFailures, limit: LoginPolicy.failuresPerAddress, now: now) {
            record(.login, user: user, remote: remote, caller: caller, result: "locked", reason: "too many failed logins; refused without asking PAM")
            throw BrokerError(code: .rateLimited, message: "too many failed logins; try again in \(wait) s", retryAfterSeconds: wait)
        }
        let authenticate = self.authenticate
        let password = params.password
        let outcome = try await blocking { authenticate(user, password, remote) }
        var account: UserAccount?
        var denial: String?
        var config = StudioConfig()
        switch outcome {
        case .success:
            account = UserAccount.named(user)
            if let found = account {
                config = try environment.loadConfig()
                do {
                    try environment.accounts.check(found, group: config.accessGroup)
                } catch {
                    denial = error.message
                    account = nil
                }
            } else {
                denial = "PAM accepted a user the user database does not know"
            }
        case .denied(let reason):
            denial = reason
        case .failure(let reason):
            logger.error("PAM failed for a web login", metadata: ["error": "\(reason)"])
            record(.login, user: user, remote: remote, caller: caller, result: "failure", reason: "PAM failed: \(reason)")
            throw BrokerError.internalError("the login could not be checked (PAM failed); an administrator finds why with journalctl -u studio-sandbox")
        }
        guard let account, denial == nil else {
            try await blocking { try store.recordLoginFailure(keys: [accountKey, addressKey], at: now) }
            record(.login, user: user, remote: remote, caller: caller, result: "failure", reason: denial)
            throw BrokerError.unauthorized(Self.refusal)
        }
        let token = try Secrets.token()
        let grant = Grant(
            hash: Secrets.sha256Hex(token), kind: .session, uid: account.uid, user: account.name, remote: remote, createdAt: now,
            expiresAt: now + config.sessionLifetimeSeconds, idleSeconds: config.sessionIdleSeconds)
        try await blocking {
            try store.insertGrant(grant)
            try store.clearLoginFailures(key: accountKey)
        }
        record(.login, user: account.name, remote: remote, caller: caller, result: "success")
        return LoginResult(token: token, session: Self.info(grant))
    }

    /// The live grant `token` stands for; `unauthorized` when there is none (never issued, ended, logged out).
    func grant(_ token: String, kinds: Set<GrantKind>) async throws -> Grant {
        guard Base64URL.isToken(token) else { throw BrokerError.unauthorized("not logged in; log in again") }
        let store = environment.store
        let hash = Secrets.sha256Hex(token)
        let now = environment.now()
        guard let grant = try await blocking({ try store.useGrant(hash: hash, now: now) }), kinds.contains(grant.kind) else {
            throw BrokerError.unauthorized("not logged in, or the login ended; log in again")
        }
        return grant
    }

    func logout(_ grant: Grant, caller: PeerCredentials, remote: String?) async throws -> Done {
        let store = environment.store
        try await blocking { try store.deleteGrant(hash: grant.hash) }
        record(.logout, user: grant.user, remote: remote ?? grant.remote, caller: caller, result: "success")
        return Done("logged out")
    }

    /// A one-time ticket for `app` of the session user's workspace (which must exist).
    func ticket(_ params: TicketParams, session: Grant) async throws -> TokenResult {
        guard AgentProtocol.isValidTerminalName(params.app) else {
            throw BrokerError.badRequest("\"\(params.app)\" is not an app name")
        }
        let name = try WorkspaceName(params.name)
        let store = environment.store
        guard try await blocking({ try store.find(uid: session.uid, name: name) }) != nil else {
            throw BrokerError.notFound(WorkspaceError.notFound(name.rawValue).description)
        }
        let now = environment.now()
        let token = try Secrets.token()
        let ticket = Grant(
            hash: Secrets.sha256Hex(token), kind: .ticket, uid: session.uid, user: session.user, parent: session.hash,
            owner: session.user, workspace: name.rawValue, app: params.app, remote: session.remote, createdAt: now,
            expiresAt: now + LoginPolicy.ticketSeconds, idleSeconds: LoginPolicy.ticketSeconds)
        try await blocking { try store.insertGrant(ticket) }
        return TokenResult(token: token, expiresAt: ticket.expiresAt)
    }

    /// Exchanges a ticket (once) for an app grant that lives as long as its session.
    func redeem(_ params: RedeemParams, caller: PeerCredentials) async throws -> TokenResult {
        guard caller.uid == environment.studioUID || caller.uid == 0 else {
            throw BrokerError.forbidden("only studiod may redeem app tickets")
        }
        let ticket = try await grant(params.ticket, kinds: [.ticket])
        let store = environment.store
        // Used once, whatever happens next.
        try await blocking { try store.deleteGrant(hash: ticket.hash) }
        guard ticket.owner == params.owner, ticket.workspace == params.name, ticket.app == params.app, let parent = ticket.parent else {
            throw BrokerError.unauthorized("this ticket is for another app; open the app from the dashboard")
        }
        let now = environment.now()
        guard let session = try await blocking({ try store.useGrant(hash: parent, now: now) }) else {
            throw BrokerError.unauthorized("the login this ticket came from ended; log in again")
        }
        let token = try Secrets.token()
        let grant = Grant(
            hash: Secrets.sha256Hex(token), kind: .app, uid: ticket.uid, user: ticket.user, parent: parent, owner: ticket.owner,
            workspace: ticket.workspace, app: ticket.app, remote: ticket.remote, createdAt: now, expiresAt: session.expiresAt,
            idleSeconds: session.idleSeconds)
        try await blocking { try store.insertGrant(grant) }
        return TokenResult(token: token, expiresAt: grant.expiresAt)
    }

    static func info(_ grant: Grant) -> SessionInfo {
        SessionInfo(user: UserInfo(name: grant.user, uid: grant.uid), expiresAt: grant.expiresAt, idleTimeoutSeconds: grant.idleSeconds)
    }

    /// Seconds until the oldest failure in the window ages out, when there are `limit` or more.
    static func lockout(_ failures: [Double], limit: Int, now: Double) -> Int? {
        guard failures.count >= limit else { return nil }
        let oldestCounted = failures[failures.count - limit]
        return max(1, Int((oldestCounted + LoginPolicy.failureWindowSeconds - now).rounded(.up)))
    }

    func record(_ event: AuditEvent, user: String?, remote: String, caller: PeerCredentials, result: String, reason: String? = nil) {
        Audit.$remoteAddress.withValue(remote) {
            audit.record(event, owner: user, workspace: nil, caller: caller, result: result, reason: reason)
        }
    }

    func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await NIOThreadPool.singleton.runIfActive(body)
    }
}
