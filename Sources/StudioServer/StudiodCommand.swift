import ArgumentParser
import Logging
import ServiceLifecycle
import StudioCore
import StudioNet
import StudioSystemd
import UnixSignals
import Hummingbird
import HummingbirdCore

/// `studiod`: the web UI and API. Normally started by `studiod.socket`; `--listen` binds by itself for development.
public struct StudiodCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "studiod",
        abstract: "Studio's web UI and API server (started by studiod.socket).",
        discussion: "Run by systemd through socket activation. For development, --listen binds an address itself.")

    @Option(name: .customLong("listen"), help: "Bind this HOST:PORT instead of using sockets from systemd (repeatable).")
    var listen: [String] = []

    @Option(name: .customLong("listen-unix"), help: "Bind this unix socket path instead of using sockets from systemd.")
    var listenUnix: [String] = []

    @Option(help: "Main configuration file.")
    var config: String = Paths.configFile

    @Option(help: "Directory of configuration drop-ins.")
    var configDropIns: String = Paths.configDropInDirectory

    @Option(help: "The dashboard's files.")
    var webRoot: String = Paths.webRoot

    @Option(help: "xterm.js (Debian's libjs-xterm).")
    var xtermRoot: String = Paths.xtermRoot

    @Option(help: "The local port of the apps origin's listener (the app proxy).")
    var appsPort: Int = 7081

    @Option(help: "The broker's socket.")
    var brokerSocket: String = Paths.brokerSocket

    public init() {}

    public func run() async throws {
        let started = ContinuousClock.now
        JournalLogHandler.bootstrap(identifier: "studiod")
        let logger = Logger(label: "studiod")

        let (config, configError) = StudioConfig.loadOrDefaults(file: self.config, dropInDirectory: configDropIns)
        if let configError {
            logger.critical("configuration error, running with defaults until it is fixed: \(configError)", metadata: ["config_path": "\(configError.path)"])
        }

        let listeners = try resolveListeners(logger: logger)
        let settings = WebSettings(
            publicOrigin: config.publicURL.flatMap(WebOrigin.init), appsOrigin: config.appsURL.flatMap(WebOrigin.init), appsPort: appsPort,
            webRoot: webRoot, xtermRoot: xtermRoot, brokerSocket: brokerSocket)
        let router = Routes.router(settings: settings, uptime: { (ContinuousClock.now - started).seconds }, configError: configError?.description)
        let idleExit = config.serverIdleExitSeconds > 0 ? Duration.seconds(config.serverIdleExitSeconds) : nil
        // Keep-alive connections that stay silent are closed, so that an idle browser tab does not keep
        // studiod up forever; a terminal's WebSocket is not silent (and its end lets studiod exit).
        let http = StudioHTTPChannel(
            responder: HTTP1Channel.studioResponder(router.buildResponder(), logger: logger), upgrade: Routes.upgrade(settings: settings))
        let server = ActivatedServer(
            listeners: listeners,
            child: http,
            idleExit: idleExit,
            logger: logger,
            onReady: {
                logger.info("studiod is ready", metadata: [
                    "listeners": "\(listeners.count)",
                    "addresses": "\(listeners.map(\.description).joined(separator: ", "))",
                ])
                ServiceNotifier.ready(status: "serving on \(listeners.count) socket(s)")
            })
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: server, successTerminationBehavior: .gracefullyShutdownGroup)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
    }

    /// The sockets from systemd, or the ones named on the command line; an error says what to do when neither.
    func resolveListeners(logger: Logger) throws -> [Listener] {
        let explicit = try listen.map { address throws(ValidationError) -> Listener in
            guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else {
                throw ValidationError("--listen wants HOST:PORT, e.g. 127.0.0.1:7080; got \"\(address)\"")
            }
            return .tcp(host: String(address[..<colon]), port: port)
        } + listenUnix.map { Listener.unix(path: $0) }
        if !explicit.isEmpty { return explicit }
        let inherited = try SocketActivation.listenSockets()
        guard !inherited.isEmpty else {
            logger.critical("no sockets from systemd and no --listen given")
            throw ValidationError(
                "studiod got no sockets from systemd. Start it with `systemctl start studiod.socket`, or for development pass --listen 127.0.0.1:7080.")
        }
        return inherited.map(Listener.inherited)
    }
}

