#if canImport(Glibc)
import Glibc
#endif
import StudioCore

/// Whom a terminal, exec or app runs as, and the variables that say so.
struct SessionIdentity: Sendable, Equatable {
    /// What to spawn as; nil: as the agent itself (the host backend, where the agent is the owner).
    var credentials: ProcessSpawner.Credentials?
    /// `USER` and `LOGNAME`.
    var user: String
    var home: String
    /// `SHELL`, and what a terminal without a command runs.
    var shell: String
    /// Root inside a container (a `root` request).
    var isRoot: Bool
}

/// The environment of everything the agent starts: a clean login-like set, never the agent's own (which
/// carries systemd's `NOTIFY_SOCKET`, `INVOCATION_ID` and the like).
struct AgentEnvironment: Sendable {
    let spec: AgentSpec
    /// The owner's home directory.
    let home: String
    /// PATH handed to children.
    let path: String
    /// The owner: the agent itself on the host; uid and gid of `spec.container` in a container.
    let owner: SessionIdentity
    /// Root inside the container; nil on the host, where no request may run as root.
    let root: SessionIdentity?

    init(spec: AgentSpec, isExecutable: (String) -> Bool = { access($0, X_OK) == 0 }) {
        self.spec = spec
        path = getenv("PATH").map { String(cString: $0) } ?? ProcessSpawner.defaultPath
        if let account = spec.container {
            home = account.home
            owner = SessionIdentity(
                credentials: .init(uid: account.uid, gid: account.gid), user: account.name, home: account.home,
                shell: ContainerAccounts.shell(preferred: spec.shell, isExecutable: isExecutable), isRoot: false)
            root = SessionIdentity(
                credentials: .root, user: "root", home: "/root",
                shell: ContainerAccounts.rootShell(isExecutable: isExecutable), isRoot: true)
        } else {
            home = UserAccount.withUID(getuid())?.home ?? getenv("HOME").map { String(cString: $0) } ?? "/"
            owner = SessionIdentity(credentials: nil, user: spec.workspace.owner, home: home, shell: spec.shell, isRoot: false)
            root = nil
        }
    }

    /// The identity a request asks for: root (container only; the caller checked) or the owner.
    func identity(root asRoot: Bool) -> SessionIdentity {
        asRoot ? (root ?? owner) : owner
    }

    /// For terminals, exec and apps: the basics, then the template's environment, then `extra`.
    func variables(extra: [String: String] = [:], as identity: SessionIdentity? = nil) -> [String: String] {
        let identity = identity ?? owner
        var variables = [
            "HOME": identity.home,
            "USER": identity.user,
            "LOGNAME": identity.user,
            "SHELL": identity.shell,
            "PATH": path,
            "LANG": getenv("LANG").map { String(cString: $0) } ?? "C.UTF-8",
            "STUDIO_WORKSPACE": spec.workspace.name.rawValue,
        ]
        variables.merge(spec.environment) { _, new in new }
        variables.merge(extra) { _, new in new }
        return variables
    }

    /// For terminals: the above plus `TERM=xterm-256color` (a request may ask for another).
    func terminalVariables(extra: [String: String] = [:], as identity: SessionIdentity? = nil) -> [String: String] {
        variables(extra: ["TERM": "xterm-256color"].merging(extra) { _, new in new }, as: identity)
    }
}
