import ArgumentParser
import Logging
import ServiceLifecycle
import StudioCore
import StudioNet
import StudioJournal
import UnixSignals
#if canImport(Glibc)
import Glibc
#endif

/// `studio-agent --spec PATH` (also `studio-sandbox agent`): the main process of a workspace's unit, running as the
/// owner.
public struct AgentCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Run a workspace's agent (the main process of its systemd unit).",
        discussion: """
            Holds the workspace's terminals, runs exec requests and keeps its apps running, serving the socket named \
            in the spec. See docs/agent-protocol.md.
            """)

    @Option(help: ArgumentHelp("The agent spec the broker wrote (JSON).", valueName: "path"))
    var spec: String

    @Flag(help: "Serve the listening socket on standard input (the broker binds it) instead of binding the spec's path.")
    var listenStdin = false

    public init() {}

    public func run() async throws {
        JournalLogHandler.bootstrap(identifier: "studio-agent")
        var logger = Logger(label: "studio-agent")
        let spec: AgentSpec
        do {
            spec = try AgentHost.loadSpec(self.spec)
        } catch {
            logger.critical("\(error)", metadata: ["spec_path": "\(self.spec)"])
            throw ExitCode(78)
        }
        logger[metadataKey: "workspace"] = "\(spec.workspace.displayName)"
        logger[metadataKey: "workspace_id"] = "\(spec.workspace.id)"
        // As a container's PID 1 the agent inherits every orphan inside; someone must reap them.
        if getpid() == 1 { ChildReaper.reapEveryChild() }
        if let account = spec.container {
            AgentHost.installAccount(account, spec: spec, logger: logger)
        }
        var listener: Listener?
        if listenStdin {
            do {
                listener = .inherited(try SocketActivation.standardInputListener(name: "agent"))
            } catch {
                logger.critical("\(error)")
                throw ExitCode(78)
            }
        }
        let group = AgentHost(spec: spec, logger: logger).serviceGroup(listener: listener, signals: [.sigterm, .sigint])
        try await group.run()
    }
}
