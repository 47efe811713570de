import Logging
import StudioCore
import Synchronization

/// The workspace's named terminals: the first attach to a name starts it, later ones join it, and it leaves the
/// registry when its process ends.
final class TerminalRegistry: Sendable {
    private struct Entry {
        var generation: Int
        /// Whether it runs as root inside a container.
        var root: Bool
        var starting: Task<(terminal: Terminal, first: Terminal.Attachment), any Error>
    }

    private let entries = Mutex<(generation: Int, byName: [String: Entry])>((0, [:]))
    private let spec: AgentSpec
    private let environment: AgentEnvironment
    private let logger: Logger

    init(spec: AgentSpec, environment: AgentEnvironment, logger: Logger) {
        self.spec = spec
        self.environment = environment
        self.logger = logger
    }

    /// What a terminal of this name runs: the template's command through `/bin/sh -c`, or the login shell of
    /// `shell` (the owner's, or root's in a container).
    func program(for name: String, shell: String? = nil) -> (argv: [String], command: String) {
        if let named = spec.terminals.first(where: { $0.name == name }) {
            return (["/bin/sh", "-c", named.command], named.command)
        }
        let shell = shell ?? spec.shell
        let shellName = shell.split(separator: "/").last.map(String.init) ?? shell
        // `-l` makes it a login shell, as a console or ssh login would.
        return ([shell, "-l"], "\(shellName) -l")
    }

    /// Attaches a new client to `name`, starting the terminal (with the given size) as `identity` if it does not run
    /// yet (default: the owner). A terminal keeps the identity it was created with: asking for the other one is a
    /// `conflict`.
    func attach(_ name: String, cols: UInt16, rows: UInt16, as identity: SessionIdentity? = nil) async throws -> (terminal: Terminal, client: Terminal.Attachment, created: Bool) {
        let identity = identity ?? environment.owner
        // A terminal can end between lookup and attach; then the next lookup starts a fresh one.
        for _ in 0..<3 {
            let (task, generation, created) = try entries.withLock { entries throws(AgentError) in
                if let entry = entries.byName[name] {
                    guard entry.root == identity.isRoot else { throw Self.identityConflict(name, root: entry.root) }
                    return (entry.starting, entry.generation, false)
                }
                entries.generation += 1
                let generation = entries.generation
                let (argv, command) = program(for: name, shell: identity.shell)
                let spec = self.spec, environment = self.environment, logger = self.logger
                let inContainer = spec.container != nil
                let task = Task {
                    try await Terminal.start(
                        name: name, argv: argv, command: command, environment: environment.terminalVariables(as: identity),
                        directory: spec.projectDirectory, cols: cols, rows: rows, scrollbackBytes: spec.scrollbackBytes,
                        credentials: identity.credentials, root: inContainer ? identity.isRoot : nil,
                        logger: logger, onEnd: { [weak self] _ in self?.remove(name, generation: generation) })
                }
                entries.byName[name] = Entry(generation: generation, root: identity.isRoot, starting: task)
                return (task, generation, true)
            }
            let started: (terminal: Terminal, first: Terminal.Attachment)
            do {
                started = try await task.value
            } catch {
                remove(name, generation: generation)
                throw error
            }
            if created { return (started.terminal, started.first, true) }
            if let client = started.terminal.attach() { return (started.terminal, client, false) }
            await Task.yield()
        }
        throw AgentError.internalError("terminal \"\(name)\" keeps ending as it starts; see the workspace's journal")
    }

    /// Attaching with the other identity than the terminal's: which name to use instead.
    static func identityConflict(_ name: String, root: Bool) -> AgentError {
        if root {
            let other = name == AgentProtocol.defaultTerminal ? "shell" : AgentProtocol.defaultTerminal
            return .conflict("terminal \"\(name)\" runs as root: attach to it as root, or use another name for a terminal of the owner (such as \"\(other)\")")
        }
        let other = name == AgentProtocol.rootTerminal ? "root-2" : AgentProtocol.rootTerminal
        return .conflict("terminal \"\(name)\" runs as the owner, not as root: use another name for a root terminal (such as \"\(other)\")")
    }

    /// Every running terminal.
    func list() async -> [TerminalInfo] {
        let tasks = entries.withLock { $0.byName.values.map(\.starting) }
        var infos: [TerminalInfo] = []
        for task in tasks {
            if let terminal = try? await task.value.terminal, !terminal.hasEnded { infos.append(terminal.info()) }
        }
        return infos.sorted { $0.name < $1.name }
    }

    /// Hangs up every terminal (agent shutdown).
    func hangUpAll() async {
        let tasks = entries.withLock { $0.byName.values.map(\.starting) }
        for task in tasks { (try? await task.value.terminal)?.hangUp() }
    }

    /// Whether no terminal is left.
    var isEmpty: Bool { entries.withLock { $0.byName.isEmpty } }

    private func remove(_ name: String, generation: Int) {
        entries.withLock { entries in
            if entries.byName[name]?.generation == generation { entries.byName[name] = nil }
        }
    }
}
