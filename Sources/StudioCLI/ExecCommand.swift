import ArgumentParser
import StudioCore

/// `studioctl exec NAME [-t] -- CMD ARGS...`: runs a program in the workspace and exits with its exit code.
struct Exec: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a command in a workspace's project directory, with the workspace's environment.",
        discussion: """
            The command runs without a shell: write `studioctl exec NAME -- sh -c '...'` for one. stdin, stdout \
            and stderr are streamed; studioctl exits with the command's exit code (128+N if signal N killed it). \
            With -t the command gets a terminal of its own (for interactive programs); stdout and stderr are then \
            one stream.

            With --root the command runs as root inside a container workspace (uid 0 of the container's own user \
            namespace, an unprivileged uid on the host: never root on the host), with HOME=/root, still in the \
            project directory. Workspaces that run on the host refuse it (exit 77).
            """)

    @Argument(help: ArgumentHelp("The workspace: NAME or OWNER/NAME.", valueName: "workspace"))
    var workspace: WorkspaceReference

    @Flag(name: .shortAndLong, help: "Run the command on a terminal.")
    var tty = false

    @Flag(help: "Run as root inside the container (container workspaces only; not root on the host).")
    var root = false

    @Option(name: [.short, .customLong("env")], help: ArgumentHelp("Set an environment variable (repeatable).", valueName: "name=value"))
    var environment: [String] = []

    @Option(help: ArgumentHelp("Connect to this agent socket instead of the workspace's (for development).", valueName: "path"))
    var agentSocket: String?

    @Argument(parsing: .postTerminator, help: ArgumentHelp("The command and its arguments, after `--`.", valueName: "command"))
    var argv: [String] = []

    func validate() throws {
        guard let program = argv.first, !program.isEmpty else {
            throw ValidationError("give the command to run after `--`: studioctl exec NAME -- COMMAND [ARGUMENTS…]")
        }
        for assignment in environment where !assignment.contains("=") || assignment.hasPrefix("=") {
            throw ValidationError("\"\(assignment)\" is not NAME=VALUE")
        }
    }

    func run() throws {
        let identity = try workspace.resolve()
        var variables: [String: String] = [:]
        for assignment in environment {
            let parts = assignment.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            variables[String(parts[0])] = String(parts[1])
        }
        // Before raw mode: from here on SIGTERM, SIGHUP and SIGINT end the session through the poll loop, which
        // restores the terminal.
        SignalPipe.install()
        let local = LocalTerminal()
        let outcome: SessionOutcome
        do {
            let client = try AgentClient(workspace: identity, socketPath: agentSocket)
            let size = tty ? LocalTerminal.windowSize() : nil
            try client.open(.exec(argv, tty: tty, cols: size.map { Int($0.cols) }, rows: size.map { Int($0.rows) }, env: variables.isEmpty ? nil : variables, root: root))
            if tty { local.enterRawMode() }
            defer { local.restore() }
            outcome = try AgentSessionLoop(client: client, forwardsResize: tty).run()
        } catch {
            printError("studioctl: \(error)")
            throw error.exitCode
        }
        if outcome == .disconnected {
            printError("studioctl: the agent of \(AgentClientError.mention(identity)) closed the connection before the command ended")
        }
        if outcome.exitCode != 0 { throw ExitCode(outcome.exitCode) }
    }
}
