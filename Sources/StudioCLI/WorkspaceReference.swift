import ArgumentParser
import StudioCore
#if canImport(Glibc)
import Glibc
#endif

/// A workspace as written on the command line: `NAME` (one of yours) or `OWNER/NAME` (root, or naming yourself).
struct WorkspaceReference: ExpressibleByArgument, Sendable {
    var owner: String?
    var name: WorkspaceName

    init?(argument: String) {
        try? self.init(parsing: argument)
    }

    init(parsing text: String) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        switch parts.count {
        case 1:
            owner = nil
            name = try WorkspaceName(text)
        case 2 where !parts[0].isEmpty:
            owner = String(parts[0])
            name = try WorkspaceName(String(parts[1]))
        default:
            throw ValidationError("\"\(text)\" is not a workspace: write NAME, or OWNER/NAME")
        }
    }

    static var defaultValueDescription: String { "NAME or OWNER/NAME" }

    /// The full identity: the owner defaults to the calling user; uid from the user database.
    func resolve() throws -> WorkspaceIdentity {
        let user = try owner.map(UserAccount.named) ?? UserAccount.current()
        return WorkspaceIdentity(owner: user.name, uid: user.uid, name: name)
    }
}

/// A Linux account, from the user database.
struct UserAccount: Sendable {
    var name: String
    var uid: UInt32
    var home: String
    var shell: String

    static func named(_ name: String) throws -> UserAccount {
        guard let entry = getpwnam(name) else { throw ValidationError("there is no user \"\(name)\" on this machine") }
        return UserAccount(entry.pointee)
    }

    static func current() throws -> UserAccount {
        guard let entry = getpwuid(getuid()) else { throw ValidationError("your uid \(getuid()) has no entry in the user database") }
        return UserAccount(entry.pointee)
    }

    init(_ entry: passwd) {
        name = String(cString: entry.pw_name)
        uid = entry.pw_uid
        home = String(cString: entry.pw_dir)
        shell = String(cString: entry.pw_shell)
    }
}
