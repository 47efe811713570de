import ArgumentParser
import StudioCore
#if canImport(Glibc)
import Glibc
#endif

/// `studioctl shell [NAME] [--terminal T]`: attaches this terminal to one of the workspace's terminals.
struct Shell: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Attach to a terminal in a workspace; it keeps running when you detach.",
        discussion: """
            The first attach starts the terminal (your login shell in the project directory, or a terminal command \
            the workspace's template names); later attaches, from here or from the web, join it and first replay \
            its recent output.

            Detach with Ctrl-\\ then d: the terminal keeps running. Ctrl-\\ twice sends one Ctrl-\\. When the \
            terminal's program exits, so does studioctl, with its exit code.

            Input from a pipe is typed into the terminal as is; after it ends studioctl shows output until the \
            program exits (end the input with `exit` to close a shell). For scripts, `studioctl exec` is better.

            With --root the terminal is a root shell inside a container workspace (uid 0 of the container's own \
            user namespace, an unprivileged uid on the host: never root on the host), named "root" unless \
            --terminal names it. A terminal keeps the identity it started with: attaching to your own terminal with \
            --root, or to a root terminal without it, is refused (exit 75). Workspaces that run on the host refuse \
            --root (exit 77).
            """)

    @Argument(help: ArgumentHelp("The workspace: NAME or OWNER/NAME. Default: the current directory's name.", valueName: "workspace"))
    var workspace: WorkspaceReference?

    @Option(name: .long, help: ArgumentHelp("Which terminal (default: main, or root with --root).", valueName: "name"))
    var terminal: String?

    @Flag(help: "A root terminal inside the container (container workspaces only; not root on the host).")
    var root = false

    /// The terminal attached to.
    var terminalName: String { terminal ?? (root ? AgentProtocol.rootTerminal : AgentProtocol.defaultTerminal) }

    @Option(help: ArgumentHelp("Connect to this agent socket instead of the workspace's (for development).", valueName: "path"))
    var agentSocket: String?

    func validate() throws {
        guard AgentProtocol.isValidTerminalName(terminalName) else {
            throw ValidationError("\"\(terminalName)\" is not a terminal name: use 1 to 64 of A-Z a-z 0-9 . _ -")
        }
    }

    func run() throws {
        let terminal = terminalName
        let identity = try (workspace ?? WorkspaceReference.currentDirectory()).resolve()
        let mention = AgentClientError.mention(identity)
        // Before raw mode: from here on SIGTERM, SIGHUP and SIGINT end the session through the poll loop, which
        // restores the terminal.
        SignalPipe.install()
        let local = LocalTerminal()
        let outcome: SessionOutcome
        do {
            let client = try AgentClient(workspace: identity, socketPath: agentSocket)
            let size = LocalTerminal.windowSize()
            try client.open(.attach(terminal, cols: size.map { Int($0.cols) }, rows: size.map { Int($0.rows) }, root: root))
            if local.isTerminal {
                let who = root ? " (root inside the container)" : ""
                printError("Attached to terminal \"\(terminal)\"\(who) of \(mention) (Ctrl-\\ then d detaches).")
            }
            local.enterRawMode()
            defer { local.restore() }
            outcome = try AgentSessionLoop(client: client, detachable: local.isTerminal, forwardsResize: true).run()
        } catch {
            printError("studioctl: \(error)")
            throw error.exitCode
        }
        switch outcome {
        case .detached:
            let defaultName = root ? AgentProtocol.rootTerminal : AgentProtocol.defaultTerminal
            let again = (root ? " --root" : "") + (terminal == defaultName ? "" : " --terminal \(terminal)")
            printError("\nDetached; terminal \"\(terminal)\" keeps running. `studioctl shell \(mention)\(again)` reattaches.")
        case .disconnected:
            printError("studioctl: the agent of \(mention) closed the connection (the workspace may be stopping)")
        case .exited, .signalled:
            break
        }
        if outcome.exitCode != 0 { throw ExitCode(outcome.exitCode) }
    }
}

extension WorkspaceReference {
    /// The workspace named like the current directory, for `studioctl shell` inside a project.
    static func currentDirectory() throws -> WorkspaceReference {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else {
            throw ValidationError("name a workspace: the current directory cannot be read")
        }
        let directory = String(cString: buffer)
        let base = directory.split(separator: "/").last.map(String.init) ?? ""
        guard (try? WorkspaceName(base)) != nil else {
            throw ValidationError("name a workspace: the current directory's name \"\(base)\" is not a workspace name")
        }
        return WorkspaceReference(argument: base)
    }
}
