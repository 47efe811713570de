#if canImport(Glibc)
import Glibc
#endif
import StudioCore

/// The environment of everything the agent starts: a clean login-like set, never the agent's own (which
/// carries systemd's `NOTIFY_SOCKET`, `INVOCATION_ID` and the like).
struct AgentEnvironment: Sendable {
    let spec: AgentSpec
    /// The owner's home directory.
    let home: String
    /// PATH handed to children.
    let path: String

    init(spec: AgentSpec) {
        self.spec = spec
        home = UserAccount.withUID(getuid())?.home ?? getenv("HOME").map { String(cString: $0) } ?? "/"
        path = getenv("PATH").map { String(cString: $0) } ?? ProcessSpawner.defaultPath
    }

    /// For terminals, exec and apps: the basics, then the template's environment, then `extra`.
    func variables(extra: [String: String] = [:]) -> [String: String] {
        var variables = [
            "HOME": home,
            "USER": spec.workspace.owner,
            "LOGNAME": spec.workspace.owner,
            "SHELL": spec.shell,
            "PATH": path,
            "LANG": getenv("LANG").map { String(cString: $0) } ?? "C.UTF-8",
            "STUDIO_WORKSPACE": spec.workspace.name.rawValue,
        ]
        variables.merge(spec.environment) { _, new in new }
        variables.merge(extra) { _, new in new }
        return variables
    }

    /// For terminals: the above plus `TERM=xterm-256color` (a request may ask for another).
    func terminalVariables(extra: [String: String] = [:]) -> [String: String] {
        variables(extra: ["TERM": "xterm-256color"].merging(extra) { _, new in new })
    }
}
