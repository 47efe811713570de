import StudioCore
import StudioNet

/// Decides, from the kernel's word on who is calling, whose workspaces a request may touch.
///
/// Root may act for anyone. studiod (the `studio` user) may act for a user only with a login ticket the broker
/// itself issued after PAM said yes; the login that issues tickets is part of the web UI, so until then studiod is
/// refused. Anyone else may act only on their own workspaces.
struct Authorizer: Sendable {
    let studioUID: UInt32?

    /// The account whose workspaces the request is about.
    func owner(for caller: PeerCredentials, requested: String?) throws(BrokerError) -> UserAccount {
        if caller.uid == 0 {
            guard let requested else { return try account(uid: 0) }
            guard let account = UserAccount.named(requested) else {
                throw BrokerError.notFound("there is no user \"\(requested)\" on this machine")
            }
            return account
        }
        if caller.uid == studioUID {
            throw BrokerError.forbidden("studiod may act for a user only with a login ticket issued by the broker at a PAM login; none was presented")
        }
        let me = try account(uid: caller.uid)
        if let requested, requested != me.name {
            throw BrokerError.forbidden("you (\(me.name)) may only use your own workspaces, not \(requested)'s")
        }
        return me
    }

    /// Whether the caller may see every owner's workspaces.
    func mayListAll(_ caller: PeerCredentials) -> Bool { caller.uid == 0 }

    private func account(uid: UInt32) throws(BrokerError) -> UserAccount {
        guard let account = UserAccount.withUID(uid) else {
            throw BrokerError.forbidden("uid \(uid) has no entry in the user database")
        }
        return account
    }
}

extension BrokerError {
    public static func notFound(_ message: String) -> BrokerError { .init(code: "not_found", message: message) }
    public static func conflict(_ message: String) -> BrokerError { .init(code: "conflict", message: message) }
    public static func systemd(_ message: String) -> BrokerError { .init(code: "systemd", message: message) }

    /// The broker error for a workspace problem.
    static func from(_ error: WorkspaceError) -> BrokerError {
        switch error {
        case .notFound: .notFound(error.description)
        case .alreadyExists: .conflict(error.description)
        default: .badRequest(error.description)
        }
    }
}
