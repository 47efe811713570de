import GRDB
import StudioCore

/// What a login grant lets its holder do.
public enum GrantKind: String, Sendable {
    /// A dashboard login: act as the user on their own workspaces.
    case session
    /// A one-time ticket for one app of one workspace, good for a minute.
    case ticket
    /// The apps origin's cookie: reach one app of one workspace, while its session lives.
    case app
}

/// A grant the broker issued, as stored (without the token, which is never stored).
public struct Grant: Sendable, Equatable {
    public var hash: String
    public var kind: GrantKind
    public var uid: UInt32
    public var user: String
    /// The session a ticket or app grant was made from; it ends with it.
    public var parent: String?
    /// For tickets and app grants: the one app they open.
    public var owner: String?
    public var workspace: String?
    public var app: String?
    /// The address the login came from.
    public var remote: String
    public var createdAt: Double
    public var lastSeenAt: Double
    /// Absolute end.
    public var expiresAt: Double
    /// Ends this long after it was last used.
    public var idleSeconds: Double

    public init(
        hash: String, kind: GrantKind, uid: UInt32, user: String, parent: String? = nil, owner: String? = nil,
        workspace: String? = nil, app: String? = nil, remote: String, createdAt: Double, expiresAt: Double, idleSeconds: Double
    ) {
        self.hash = hash
        self.kind = kind
        self.uid = uid
        self.user = user
        self.parent = parent
        self.owner = owner
        self.workspace = workspace
        self.app = app
        self.remote = remote
        self.createdAt = createdAt
        self.lastSeenAt = createdAt
        self.expiresAt = expiresAt
        self.idleSeconds = idleSeconds
    }

    /// When it ends if not used again.
    public var idleExpiresAt: Double { min(expiresAt, lastSeenAt + idleSeconds) }
}

extension WorkspaceStore {
    /// Stores a new grant.
    public func insertGrant(_ grant: Grant) throws(WorkspaceStoreFailure) {
        try run { db in
            try db.execute(
                sql: """
                    INSERT INTO "grant" (hash, kind, uid, user, parent, owner, workspace, app, remote, createdAt, lastSeenAt,
                        expiresAt, idleSeconds) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    grant.hash, grant.kind.rawValue, grant.uid, grant.user, grant.parent, grant.owner, grant.workspace, grant.app,
                    grant.remote, grant.createdAt, grant.lastSeenAt, grant.expiresAt, grant.idleSeconds,
                ])
        }
    }

    /// The live grant with this hash, its last use moved to `now` (written at most once a minute); nil if there is
    /// none or it ended (an ended one is removed, with what was made from it). A grant whose session ended is gone too.
    public func useGrant(hash: String, now: Double) throws(WorkspaceStoreFailure) -> Grant? {
        try run { db in
            guard let row = try Row.fetchOne(db, sql: #"SELECT * FROM "grant" WHERE hash = ?"#, arguments: [hash]),
                  let kind = GrantKind(rawValue: row["kind"]) else { return nil }
            var grant = Grant(
                hash: row["hash"], kind: kind, uid: UInt32(clamping: row["uid"] as Int64), user: row["user"], parent: row["parent"],
                owner: row["owner"], workspace: row["workspace"], app: row["app"], remote: row["remote"], createdAt: row["createdAt"],
                expiresAt: row["expiresAt"], idleSeconds: row["idleSeconds"])
            grant.lastSeenAt = row["lastSeenAt"]
            if now >= grant.idleExpiresAt {
                try db.execute(sql: #"DELETE FROM "grant" WHERE hash = ?"#, arguments: [hash])
                return nil
            }
            if now - grant.lastSeenAt >= 60 {
                grant.lastSeenAt = now
                try db.execute(sql: #"UPDATE "grant" SET lastSeenAt = ? WHERE hash = ?"#, arguments: [now, hash])
            }
            return grant
        }
    }

    /// Removes a grant and everything made from it; false if there was none.
    @discardableResult
    public func deleteGrant(hash: String) throws(WorkspaceStoreFailure) -> Bool {
        try run { db in
            try db.execute(sql: #"DELETE FROM "grant" WHERE hash = ?"#, arguments: [hash])
            return db.changesCount > 0
        }
    }

    /// Removes grants that ended before `now`, and failed logins older than `failuresBefore`.
    public func pruneGrants(now: Double, failuresBefore: Double) throws(WorkspaceStoreFailure) {
        try run { db in
            try db.execute(sql: #"DELETE FROM "grant" WHERE expiresAt <= ? OR lastSeenAt + idleSeconds <= ?"#, arguments: [now, now])
            try db.execute(sql: "DELETE FROM loginFailure WHERE at < ?", arguments: [failuresBefore])
        }
    }

    /// Records a failed login under each key (an account, an address).
    public func recordLoginFailure(keys: [String], at now: Double) throws(WorkspaceStoreFailure) {
        try run { db in
            for key in keys { try db.execute(sql: "INSERT INTO loginFailure (key, at) VALUES (?, ?)", arguments: [key, now]) }
        }
    }

    /// The times of `key`'s failed logins since `since`, oldest first.
    public func loginFailures(key: String, since: Double) throws(WorkspaceStoreFailure) -> [Double] {
        try run { db in
            try Double.fetchAll(db, sql: "SELECT at FROM loginFailure WHERE key = ? AND at >= ? ORDER BY at", arguments: [key, since])
        }
    }

    /// Forgets `key`'s failed logins (after a successful one).
    public func clearLoginFailures(key: String) throws(WorkspaceStoreFailure) {
        try run { db in try db.execute(sql: "DELETE FROM loginFailure WHERE key = ?", arguments: [key]) }
    }
}
