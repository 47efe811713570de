import ArgumentParser
import Logging
import ServiceLifecycle
import StudioCore
import StudioAgent
import StudioNet
import StudioStore
import StudioSystemd
#if canImport(Glibc)
import Glibc
#endif
import UnixSignals

/// `studio-sandbox`: the privileged broker, started by `studio-sandbox.socket`.
public struct SandboxCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "studio-sandbox",
        abstract: "Studio's privileged broker (started by studio-sandbox.socket).",
        discussion: "Answers requests on /run/studio/sandbox.sock; see docs/broker-protocol.md.",
        subcommands: [AgentCommand.self, ContainerRunCommand.self])

    @Option(name: .customLong("listen-unix"), help: "Bind this unix socket path instead of using the socket from systemd.")
    var listenUnix: String?

    @Option(help: "Main configuration file.")
    var config: String = Paths.configFile

    @Option(help: "Directory of configuration drop-ins.")
    var configDropIns: String = Paths.configDropInDirectory

    @Option(help: "The workspace database.")
    var database: String = Paths.stateDirectory + "/studio.db"

    public init() {}

    public func run() async throws {
        JournalLogHandler.bootstrap(identifier: "studio-sandbox")
        let logger = Logger(label: "studio-sandbox")
        let (config, configError) = StudioConfig.loadOrDefaults(file: self.config, dropInDirectory: configDropIns)
        if let configError {
            logger.critical("configuration error, running with defaults until it is fixed: \(configError)", metadata: ["config_path": "\(configError.path)"])
        }
        let listeners: [Listener]
        if let listenUnix {
            listeners = [.unix(path: listenUnix)]
        } else {
            listeners = try SocketActivation.listenSockets().map(Listener.inherited)
            guard !listeners.isEmpty else {
                throw ValidationError(
                    "studio-sandbox got no socket from systemd. Start it with `systemctl start studio-sandbox.socket`, or for development pass --listen-unix PATH.")
            }
        }
        let idleExit = config.brokerIdleExitSeconds > 0 ? Duration.seconds(config.brokerIdleExitSeconds) : nil
        let server = ActivatedServer(
            listeners: listeners,
            child: BrokerChannel(broker: makeBroker(logger: logger)),
            idleExit: idleExit,
            logger: logger,
            allowRemoteHalfClosure: false,
            onReady: {
                logger.info("broker is ready", metadata: ["listeners": "\(listeners.count)", "protocol": "\(BrokerProtocol.version)"])
                ServiceNotifier.ready(status: "answering on \(listeners.map(\.description).joined(separator: ", "))")
            })
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: server, successTerminationBehavior: .gracefullyShutdownGroup)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
    }

    /// The broker with its store and systemd; if the database cannot be opened it still answers `version` and
    /// says why everything else fails.
    func makeBroker(logger: Logger) -> Broker {
        let (file, dropIns) = (config, configDropIns)
        do {
            let store = try WorkspaceStore(path: database)
            return Broker(logger: logger, environment: BrokerEnvironment(
                loadConfig: { () throws(ConfigError) in try StudioConfig.load(file: file, dropInDirectory: dropIns) },
                loadTemplates: { () throws(ConfigError) in try TemplateCatalog.load() },
                store: store, units: SystemdUnitManager(), runtime: RuntimeDirectories(),
                now: { Double(time(nil)) }))
        } catch {
            logger.critical("workspace operations are unavailable: \(error)")
            return Broker(logger: logger, unavailable: error.description)
        }
    }
}
