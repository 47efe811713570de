import ArgumentParser
import Logging
import ServiceLifecycle
import StudioCore
import StudioSystemd
import UnixSignals

/// `studio-sandbox agent --spec PATH`: the main process of a workspace's unit, running as the owner.
struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Run a workspace's agent (the main process of its systemd unit).",
        discussion: """
            Holds the workspace's terminals, runs exec requests and keeps its apps running, serving the socket named \
            in the spec. See docs/agent-protocol.md.
            """)

    @Option(help: ArgumentHelp("The agent spec the broker wrote (JSON).", valueName: "path"))
    var spec: String

    init() {}

    func run() async throws {
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
        let group = AgentHost(spec: spec, logger: logger).serviceGroup(signals: [.sigterm, .sigint])
        try await group.run()
    }
}
