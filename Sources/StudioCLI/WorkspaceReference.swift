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
        let user: UserAccount
        if let owner {
            guard let account = UserAccount.named(owner) else { throw ValidationError("there is no user \"\(owner)\" on this machine") }
            user = account
        } else {
            guard let account = UserAccount.withUID(getuid()) else { throw ValidationError("your uid \(getuid()) has no entry in the user database") }
            user = account
        }
        return WorkspaceIdentity(owner: user.name, uid: user.uid, name: name)
    }
}
