import StudioCore
import StudioNet

/// Decides, from the kernel's word on who is calling, whose workspaces a request may touch.
///
/// Root may act for anyone. studio-idled (its own system user) may only list everyone's workspaces, look at one and
/// stop one, and must say why it stops.
/// studiod (the `studio` user) may act for a user only with a login grant the broker itself issued after PAM said
/// yes; the login that issues grants is part of the web UI, so until then studiod is refused. Anyone else may act
/// only on their own workspaces, and only if theirs is a regular login account (``AccountPolicy``).
struct Authorizer: Sendable {
    let studioUID: UInt32?
    let idledUID: UInt32?
    let accounts: AccountPolicy

    /// What a request does to the workspace, for the rules that depend on it.
    enum Purpose: Sendable {
        /// create, start, restart, set: programs will run as the owner.
        case start
        /// stop: what studio-idled is for.
        case stop
        /// status: studio-idled reads one workspace's state after the broker changed it.
        case status
        /// Anything else: status, list, delete, logs.
        case other
    }

    /// The account whose workspaces the request is about.
    func owner(for caller: PeerCredentials, requested: String?, purpose: Purpose, group: () throws(BrokerError) -> String?) throws(BrokerError) -> UserAccount {
        if let requested, !UserName.isValid(requested) {
            throw BrokerError.badRequest("the owner given is not a user name (1 to \(UserName.maxLength) letters, digits, '_', '-' or '.')")
        }
        if caller.uid == 0 {
            let account: UserAccount
            if let requested {
                guard let named = UserAccount.named(requested) else {
                    throw BrokerError.notFound("there is no user \"\(requested)\" on this machine")
                }
                account = named
            } else {
                account = try self.account(uid: 0)
            }
            // Root may look at, stop and delete anyone's workspaces, but starts programs only as an account that
            // may have them.
            if purpose == .start { try accounts.check(account, group: try group()) }
            return account
        }
        if caller.uid == idledUID {
            guard purpose == .stop || purpose == .status else {
                throw BrokerError.forbidden("studio-idled may only list, look at and stop workspaces")
            }
            guard let requested else {
                throw BrokerError.badRequest("studio-idled must name the workspace's owner")
            }
            guard let account = UserAccount.named(requested) else {
                throw BrokerError.notFound("there is no user \"\(requested)\" on this machine")
            }
            return account
        }
        if caller.uid == studioUID {
            throw BrokerError.forbidden("studiod may act for a user only with a login grant issued by the broker at a PAM login; none was presented")
        }
        let me = try account(uid: caller.uid)
        if let requested, requested != me.name {
            throw BrokerError.forbidden("you (\(me.name)) may only use your own workspaces, not \(requested)'s")
        }
        try accounts.check(me, group: purpose == .start ? try group() : nil)
        return me
    }

    /// Whether the caller may see every owner's workspaces: root, and studio-idled (which watches them all).
    func mayListAll(_ caller: PeerCredentials) -> Bool { caller.uid == 0 || (idledUID != nil && caller.uid == idledUID) }

    private func account(uid: UInt32) throws(BrokerError) -> UserAccount {
        guard let account = UserAccount.withUID(uid) else {
            throw BrokerError.forbidden("uid \(uid) has no entry in the user database")
        }
        return account
    }
}

extension BrokerError {

    /// The broker error for a workspace problem.
    static func from(_ error: WorkspaceError) -> BrokerError {
        switch error {
        case .notFound: .notFound(error.description)
        case .alreadyExists: .conflict(error.description)
        default: .badRequest(error.description)
        }
    }
}
