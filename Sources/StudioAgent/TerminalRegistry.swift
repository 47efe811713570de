import Logging
import StudioCore
import Synchronization

/// The workspace's named terminals: the first attach to a name starts it, later ones join it, and it leaves the
/// registry when its process ends.
final class TerminalRegistry: Sendable {
    private struct Entry {
        var generation: Int
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

    /// What a terminal of this name runs: the template's command through `/bin/sh -c`, or the owner's login shell.
    func program(for name: String) -> (argv: [String], command: String) {
        if let named = spec.terminals.first(where: { $0.name == name }) {
            return (["/bin/sh", "-c", named.command], named.command)
        }
        let shellName = spec.shell.split(separator: "/").last.map(String.init) ?? spec.shell
        // `-l` makes it a login shell, as a console or ssh login would.
        return ([spec.shell, "-l"], "\(shellName) -l")
    }

    /// Attaches a new client to `name`, starting the terminal (with the given size) if it does not run yet.
    func attach(_ name: String, cols: UInt16, rows: UInt16) async throws -> (terminal: Terminal, client: Terminal.Attachment, created: Bool) {
        // A terminal can end between lookup and attach; then the next lookup starts a fresh one.
        for _ in 0..<3 {
            let (task, generation, created) = entries.withLock { entries in
                if let entry = entries.byName[name] { return (entry.starting, entry.generation, false) }
                entries.generation += 1
                let generation = entries.generation
                let (argv, command) = program(for: name)
                let spec = self.spec, environment = self.environment, logger = self.logger
                let task = Task {
                    try await Terminal.start(
                        name: name, argv: argv, command: command, environment: environment.terminalVariables(),
                        directory: spec.projectDirectory, cols: cols, rows: rows, scrollbackBytes: spec.scrollbackBytes,
                        logger: logger, onEnd: { [weak self] _ in self?.remove(name, generation: generation) })
                }
                entries.byName[name] = Entry(generation: generation, starting: task)
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
