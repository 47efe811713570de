/// `login`: a password for PAM, from studiod, with the address the person came from.
public struct LoginParams: Codable, Sendable, Equatable {
    public var username: String
    public var password: String
    /// The browser's address as studiod saw it (PAM_RHOST, the audit trail, rate limiting).
    public var remoteAddress: String

    public init(username: String, password: String, remoteAddress: String) {
        self.username = username
        self.password = password
        self.remoteAddress = remoteAddress
    }

    /// The longest user name and password the broker passes to PAM.
    public static let maxPasswordLength = 4096
}

/// A user as the web API shows them.
public struct UserInfo: Codable, Sendable, Equatable {
    public var name: String
    public var uid: UInt32

    public init(name: String, uid: UInt32) {
        self.name = name
        self.uid = uid
    }
}

/// The answer to `login`: the grant's token (studiod's session cookie), once; the broker keeps only its hash.
public struct LoginResult: Codable, Sendable, Equatable {
    public var token: String
    public var session: SessionInfo

    public init(token: String, session: SessionInfo) {
        self.token = token
        self.session = session
    }
}

/// The answer to `session`: whom a grant is for and when it ends.
public struct SessionInfo: Codable, Sendable, Equatable {
    public var user: UserInfo
    /// Seconds since the epoch.
    public var expiresAt: Double
    /// It also ends after this long unused.
    public var idleTimeoutSeconds: Double

    public init(user: UserInfo, expiresAt: Double, idleTimeoutSeconds: Double) {
        self.user = user
        self.expiresAt = expiresAt
        self.idleTimeoutSeconds = idleTimeoutSeconds
    }
}

/// `ticket`: one app of one of the session user's workspaces.
public struct TicketParams: Codable, Sendable, Equatable {
    public var name: String
    public var app: String

    public init(name: String, app: String) {
        self.name = name
        self.app = app
    }
}

/// The answer to `ticket` and `redeem`: a token, once.
public struct TokenResult: Codable, Sendable, Equatable {
    public var token: String
    /// Seconds since the epoch.
    public var expiresAt: Double

    public init(token: String, expiresAt: Double) {
        self.token = token
        self.expiresAt = expiresAt
    }
}

/// `redeem`: a ticket and the app path it was presented on; both must match what it was issued for.
public struct RedeemParams: Codable, Sendable, Equatable {
    public var ticket: String
    public var owner: String
    public var name: String
    public var app: String

    public init(ticket: String, owner: String, name: String, app: String) {
        self.ticket = ticket
        self.owner = owner
        self.name = name
        self.app = app
    }
}

/// `connect`: the workspace whose agent to reach and the agent request to open with. With a session grant any
/// agent request on the user's own workspace; with an app grant only `app` for that grant's app. After the broker's
/// answer line the connection carries the agent's bytes both ways.
public struct ConnectParams: Codable, Sendable, Equatable {
    public var owner: String?
    public var name: String
    public var request: AgentRequest

    public init(owner: String? = nil, name: String, request: AgentRequest) {
        self.owner = owner
        self.name = name
        self.request = request
    }
}

/// Web login settings (`[Web]` in studio.conf).
public enum LoginPolicy {
    /// Failed logins for one account within ``failureWindowSeconds`` before it is refused for a while.
    public static let failuresPerAccount = 5
    /// Failed logins from one address within the window.
    public static let failuresPerAddress = 20
    public static let failureWindowSeconds = 300.0
    /// How long a ticket is good for.
    public static let ticketSeconds = 60.0
}
