import GRDB
import StudioCore

/// A failure of the database itself (not of the request), with what to check.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// Workspace definitions in SQLite (`/var/lib/studio/studio.db`), owned by the broker.
///
/// Whether a workspace runs is never stored: systemd is asked. Rows and units are created and removed together by
/// the broker, which takes care that a failed create leaves neither.
public final class WorkspaceStore: Sendable {
    let database: DatabaseQueue

    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    public init(path: String) throws(StoreError) {
        do {
            var configuration = Configuration()
            configuration.busyMode = .timeout(10)
            database = try DatabaseQueue(path: path, configuration: configuration)
            try Self.migrator.migrate(database)
        } catch {
            throw StoreError(message: "cannot open the workspace database \(path): \(error)")
        }
    }

    /// An in-memory store, for tests.
    public init() throws(StoreError) {
        do {
            database = try DatabaseQueue()
            try Self.migrator.migrate(database)
        } catch {
            throw StoreError(message: "cannot create an in-memory database: \(error)")
        }
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: workspaces") { db in
            try db.create(table: "workspace") { table in
                table.autoIncrementedPrimaryKey("id")
                table.column("owner", .text).notNull()
                table.column("uid", .integer).notNull()
                table.column("name", .text).notNull()
                table.column("projectDirectory", .text).notNull()
                table.column("template", .text).notNull()
                table.column("memoryMaxBytes", .integer)
                table.column("memoryHighBytes", .integer)
                table.column("cpus", .double)
                table.column("cpuWeight", .integer)
                table.column("tasksMax", .integer)
                table.column("ioWeight", .integer)
                table.column("createdAt", .double).notNull()
                table.uniqueKey(["uid", "name"])
            }
        }
        migrator.registerMigration("v2: login grants and failed logins") { db in
            // Only the SHA-256 of a token is stored: a copy of this file opens no session.
            try db.create(table: "grant") { table in
                table.column("hash", .text).primaryKey()
                table.column("kind", .text).notNull()
                table.column("uid", .integer).notNull()
                table.column("user", .text).notNull()
                table.column("parent", .text).indexed().references("grant", column: "hash", onDelete: .cascade)
                table.column("owner", .text)
                table.column("workspace", .text)
                table.column("app", .text)
                table.column("remote", .text).notNull()
                table.column("createdAt", .double).notNull()
                table.column("lastSeenAt", .double).notNull()
                table.column("expiresAt", .double).notNull()
                table.column("idleSeconds", .double).notNull()
            }
            try db.create(table: "loginFailure") { table in
                table.column("key", .text).notNull().indexed()
                table.column("at", .double).notNull()
            }
        }
        migrator.registerMigration("v3: idle timeout and idle stops") { db in
            try db.alter(table: "workspace") { table in
                table.add(column: "idleTimeout", .double)
                table.add(column: "idleStoppedAt", .double)
                table.add(column: "idleSince", .double)
            }
        }
        migrator.registerMigration("v4: container uid ranges") { db in
            try db.alter(table: "workspace") { table in
                table.add(column: "uidBase", .integer)
            }
            try db.create(index: "workspaceUIDBase", on: "workspace", columns: ["uidBase"], unique: true)
        }
        return migrator
    }

    /// The workspace's container uid range: the one it has, else the lowest free one, stored with it (in one
    /// transaction, so two workspaces never share one).
    public func uidBase(uid: UInt32, name: WorkspaceName) throws(WorkspaceStoreFailure) -> UInt32 {
        try run { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT uidBase FROM workspace WHERE uid = ? AND name = ?", arguments: [uid, name.rawValue]) else {
                throw WorkspaceStoreFailure.workspace(.notFound(name.rawValue))
            }
            if let base = row["uidBase"] as Int64? { return UInt32(clamping: base) }
            let taken = Set(try Int64.fetchAll(db, sql: "SELECT uidBase FROM workspace WHERE uidBase IS NOT NULL").compactMap {
                ContainerRange.slot(of: UInt32(clamping: $0))
            })
            guard let slot = (0..<ContainerRange.count).first(where: { !taken.contains($0) }) else {
                throw WorkspaceStoreFailure.store(StoreError(message: "all \(ContainerRange.count) container uid ranges are in use; delete container workspaces that are no longer needed"))
            }
            let base = ContainerRange.base(slot: slot)
            try db.execute(sql: "UPDATE workspace SET uidBase = ? WHERE uid = ? AND name = ?", arguments: [Int64(base), uid, name.rawValue])
            return base
        }
    }

    /// Adds a workspace; a second one with the same owner and name is refused.
    public func insert(_ definition: WorkspaceDefinition) throws(WorkspaceStoreFailure) {
        try run { db in
            if try Row.fetchOne(db, sql: "SELECT 1 FROM workspace WHERE uid = ? AND name = ?",
                                arguments: [definition.identity.uid, definition.identity.name.rawValue]) != nil {
                throw WorkspaceStoreFailure.workspace(.alreadyExists(definition.identity.name.rawValue))
            }
            let limits = definition.limits
            try db.execute(
                sql: """
                    INSERT INTO workspace (owner, uid, name, projectDirectory, template, memoryMaxBytes, memoryHighBytes,
                        cpus, cpuWeight, tasksMax, ioWeight, createdAt)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    definition.identity.owner, definition.identity.uid, definition.identity.name.rawValue,
                    definition.projectDirectory, definition.template, limits.memoryMaxBytes.map(Int64.init(clamping:)),
                    limits.memoryHighBytes.map(Int64.init(clamping:)), limits.cpus, limits.cpuWeight.map(Int64.init(clamping:)),
                    limits.tasksMax.map(Int64.init(clamping:)), limits.ioWeight.map(Int64.init(clamping:)), definition.createdAt,
                ])
        }
    }

    /// The workspace `name` of user `uid`, if there is one.
    public func find(uid: UInt32, name: WorkspaceName) throws(WorkspaceStoreFailure) -> WorkspaceDefinition? {
        try run { db in
            try Row.fetchOne(db, sql: "SELECT * FROM workspace WHERE uid = ? AND name = ?", arguments: [uid, name.rawValue])
                .map(Self.definition)
        }
    }

    /// The workspaces of `uid`, or of everyone when nil, by owner and name.
    public func list(uid: UInt32?) throws(WorkspaceStoreFailure) -> [WorkspaceDefinition] {
        try run { db in
            let rows = if let uid {
                try Row.fetchAll(db, sql: "SELECT * FROM workspace WHERE uid = ? ORDER BY name", arguments: [uid])
            } else {
                try Row.fetchAll(db, sql: "SELECT * FROM workspace ORDER BY owner, name")
            }
            return try rows.map(Self.definition)
        }
    }

    /// Replaces a workspace's own limits.
    public func updateLimits(uid: UInt32, name: WorkspaceName, limits: ResourceLimits) throws(WorkspaceStoreFailure) {
        try run { db in
            try db.execute(
                sql: """
                    UPDATE workspace SET memoryMaxBytes = ?, memoryHighBytes = ?, cpus = ?, cpuWeight = ?, tasksMax = ?,
                        ioWeight = ? WHERE uid = ? AND name = ?
                    """,
                arguments: [
                    limits.memoryMaxBytes.map(Int64.init(clamping:)), limits.memoryHighBytes.map(Int64.init(clamping:)), limits.cpus,
                    limits.cpuWeight.map(Int64.init(clamping:)), limits.tasksMax.map(Int64.init(clamping:)), limits.ioWeight.map(Int64.init(clamping:)),
                    uid, name.rawValue,
                ])
            if db.changesCount == 0 { throw WorkspaceStoreFailure.workspace(.notFound(name.rawValue)) }
        }
    }

    /// Replaces a workspace's own idle timeout (nil: its template's or the configuration's).
    public func updateIdleTimeout(uid: UInt32, name: WorkspaceName, seconds: Double?) throws(WorkspaceStoreFailure) {
        try run { db in
            try db.execute(sql: "UPDATE workspace SET idleTimeout = ? WHERE uid = ? AND name = ?", arguments: [seconds, uid, name.rawValue])
            if db.changesCount == 0 { throw WorkspaceStoreFailure.workspace(.notFound(name.rawValue)) }
        }
    }

    /// Records that studio-idled stopped it (or, with nil, that it started again).
    public func updateIdleStop(uid: UInt32, name: WorkspaceName, stop: IdleStop?) throws(WorkspaceStoreFailure) {
        try run { db in
            try db.execute(
                sql: "UPDATE workspace SET idleStoppedAt = ?, idleSince = ? WHERE uid = ? AND name = ?",
                arguments: [stop?.at, stop?.idleSince, uid, name.rawValue])
        }
    }

    /// Removes a workspace's row; false if there was none.
    @discardableResult
    public func delete(uid: UInt32, name: WorkspaceName) throws(WorkspaceStoreFailure) -> Bool {
        try run { db in
            try db.execute(sql: "DELETE FROM workspace WHERE uid = ? AND name = ?", arguments: [uid, name.rawValue])
            return db.changesCount > 0
        }
    }

    static func definition(_ row: Row) throws -> WorkspaceDefinition {
        let identity = WorkspaceIdentity(
            owner: row["owner"], uid: UInt32(clamping: row["uid"] as Int64), name: try WorkspaceName(row["name"] as String))
        let limits = ResourceLimits(
            memoryMaxBytes: (row["memoryMaxBytes"] as Int64?).map(UInt64.init(clamping:)),
            memoryHighBytes: (row["memoryHighBytes"] as Int64?).map(UInt64.init(clamping:)),
            cpus: row["cpus"],
            cpuWeight: (row["cpuWeight"] as Int64?).map(UInt64.init(clamping:)),
            tasksMax: (row["tasksMax"] as Int64?).map(UInt64.init(clamping:)),
            ioWeight: (row["ioWeight"] as Int64?).map(UInt64.init(clamping:)))
        let idleStop: IdleStop? = if let at = row["idleStoppedAt"] as Double?, let since = row["idleSince"] as Double? {
            IdleStop(at: at, idleSince: since)
        } else {
            nil
        }
        return WorkspaceDefinition(
            identity: identity, projectDirectory: row["projectDirectory"], template: row["template"], limits: limits,
            createdAt: row["createdAt"], idleTimeoutSeconds: row["idleTimeout"], idleStop: idleStop,
            uidBase: (row["uidBase"] as Int64?).map(UInt32.init(clamping:)))
    }

    /// Runs a write transaction, sorting errors into request errors and database failures.
    func run<T>(_ body: (Database) throws -> T) throws(WorkspaceStoreFailure) -> T {
        do {
            return try database.write(body)
        } catch let failure as WorkspaceStoreFailure {
            throw failure
        } catch let error as WorkspaceError {
            throw .workspace(error)
        } catch {
            throw .store(StoreError(message: "workspace database error: \(error)"))
        }
    }
}

/// What a store operation can fail with: a request error (not found, exists) or a database failure.
public enum WorkspaceStoreFailure: Error, Sendable, CustomStringConvertible {
    case workspace(WorkspaceError)
    case store(StoreError)

    public var description: String {
        switch self {
        case .workspace(let error): error.description
        case .store(let error): error.description
        }
    }
}
