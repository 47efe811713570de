import ArgumentParser
import StudioCore
#if canImport(Glibc)
import Glibc
#endif

/// A workspace as written on the command line: `NAME` (one of yours) or `OWNER/NAME` (root, or naming yourself).
///
/// Any text is accepted by the parser; it is checked when a command runs, so that a bad name gets its own message
/// and exit code 65 (bad input) rather than a generic usage error.
struct WorkspaceReference: ExpressibleByArgument, Sendable {
    let text: String

    init(argument: String) {
        text = argument
    }

    /// The owner (nil: the caller) and the name; a bad reference is reported and exits 65.
    func parts() throws -> (owner: String?, name: WorkspaceName) {
        let pieces = text.split(separator: "/", omittingEmptySubsequences: false)
        do {
            switch pieces.count {
            case 1: return (nil, try WorkspaceName(text))
            case 2 where !pieces[0].isEmpty: return (String(pieces[0]), try WorkspaceName(String(pieces[1])))
            default: throw badInput("\"\(text)\" is not a workspace: write NAME, or OWNER/NAME, where NAME is 1 to 63 lower-case letters, digits and dashes")
            }
        } catch let error as WorkspaceError {
            throw badInput(error.description)
        }
    }

    /// What the broker is told.
    func target() throws -> WorkspaceTarget {
        let (owner, name) = try parts()
        return WorkspaceTarget(owner: owner, name: name.rawValue)
    }

    static var defaultValueDescription: String { "NAME or OWNER/NAME" }

    /// The full identity: the owner defaults to the calling user; uid from the user database.
    func resolve() throws -> WorkspaceIdentity {
        let (owner, name) = try parts()
        let user: UserAccount
        if let owner {
            guard let account = UserAccount.named(owner) else {
                printError("studioctl: there is no user \"\(owner)\" on this machine")
                throw ExitCode(66)
            }
            user = account
        } else {
            guard let account = UserAccount.withUID(getuid()) else { throw ValidationError("your uid \(getuid()) has no entry in the user database") }
            user = account
        }
        return WorkspaceIdentity(owner: user.name, uid: user.uid, name: name)
    }
}

/// Reports bad input (a name, directory or limit that is not valid) and gives the exit code for it, 65.
func badInput(_ message: String) -> ExitCode {
    printError("studioctl: \(message)")
    return ExitCode(65)
}
