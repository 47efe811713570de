import HummingbirdCore
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import StudioJournal
import Synchronization

/// Serves a protocol (Hummingbird's `HTTP1Channel`, or the broker's line protocol) on any mix of inherited and
/// self-bound listeners, and stops by itself once no connection has been open for `idleExit` (socket activation
/// brings it back on the next connection).
///
/// Hummingbird's own `Server` cannot adopt a socket systemd has bound; this is the small server of our own that
/// conventions.md describes, driving the public `ServerChildChannel` protocol.
public final class ActivatedServer<ChildChannel: ServerChildChannel>: Service {
    let listeners: [Listener]
    let child: ChildChannel
    let idleExit: Duration?
    let tracker: ConnectionTracker
    let logger: Logger
    let onReady: @Sendable () -> Void
    let allowRemoteHalfClosure: Bool
    private let closing = Mutex(false)

    /// - Parameters:
    ///   - idleExit: stop after this long with no open connection; nil to run until told to stop.
    ///   - onReady: called once every listener accepts connections.
    ///   - allowRemoteHalfClosure: keep a connection open for writing after the peer stopped sending (HTTP
    ///     needs it); without it, a peer that goes away closes the connection at once.
    public init(
        listeners: [Listener],
        child: ChildChannel,
        idleExit: Duration?,
        tracker: ConnectionTracker = ConnectionTracker(),
        logger: Logger,
        allowRemoteHalfClosure: Bool = true,
        onReady: @escaping @Sendable () -> Void = {}
    ) {
        self.allowRemoteHalfClosure = allowRemoteHalfClosure
        self.listeners = listeners
        self.child = child
        self.idleExit = idleExit
        self.tracker = tracker
        self.logger = logger
        self.onReady = onReady
    }

    public func run() async throws {
        var channels: [NIOAsyncChannel<ChildChannel.Value, Never>] = []
        do {
            for listener in listeners { channels.append(try await bind(listener)) }
        } catch {
            for channel in channels { try? await channel.channel.close() }
            throw error
        }
        let serverChannels = channels.map(\.channel)
        let stopAccepting: @Sendable () -> Void = { [self] in
            self.closing.withLock { $0 = true }
            for channel in serverChannels { channel.close(promise: nil) }
        }
        onReady()
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                for channel in channels {
                    group.addTask { await self.serve(channel) }
                }
                if let idleExit {
                    group.addTask { await self.watchIdle(idleExit, stopAccepting: stopAccepting) }
                }
            }
        } onGracefulShutdown: {
            stopAccepting()
        }
    }

    /// Accepts connections until the listener is closed, then waits for the open ones to finish.
    private func serve(_ channel: NIOAsyncChannel<ChildChannel.Value, Never>) async {
        let child = self.child, tracker = self.tracker, logger = self.logger
        await withDiscardingTaskGroup { connections in
            do {
                try await channel.executeThenClose { inbound in
                    for try await connection in inbound {
                        tracker.opened()
                        connections.addTask {
                            await child.handle(value: connection, logger: logger)
                            tracker.closed()
                        }
                    }
                }
            } catch {
                logger.error("accepting connections failed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Checks twice a second whether the quiet period has passed; if so, stops accepting.
    private func watchIdle(_ idleExit: Duration, stopAccepting: @Sendable () -> Void) async {
        while !closing.withLock({ $0 }) {
            if let quiet = tracker.quietFor(), quiet >= idleExit {
                let seconds = idleExit.seconds
                logger.info(
                    "stopping: idle for \(Self.format(seconds))s with no open connection",
                    metadata: ["idle_seconds": "\(Self.format(seconds))"])
                ServiceNotifier.stopping(status: "idle, exiting; the socket stays open")
                stopAccepting()
                return
            }
            try? await Task.sleep(for: .milliseconds(500))
        }
    }

    /// `3`, `1.5`: seconds without a needless `.0`.
    static func format(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? "\(Int(seconds))" : "\(seconds)"
    }

    private func bind(_ listener: Listener) async throws -> NIOAsyncChannel<ChildChannel.Value, Never> {
        let child = self.child, logger = self.logger
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: allowRemoteHalfClosure)
        let setup: @Sendable (any Channel) -> EventLoopFuture<ChildChannel.Value> = { channel in
            child.setup(channel: channel, logger: logger)
        }
        switch listener {
        case .inherited(let socket):
            return try await bootstrap.bind(socket.fd, childChannelInitializer: setup)
        case .tcp(let host, let port):
            return try await bootstrap
                .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
                .bind(host: host, port: port, childChannelInitializer: setup)
        case .unix(let path):
            return try await bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true, childChannelInitializer: setup)
        }
    }
}

extension Duration {
    /// The duration in (fractional) seconds.
    public var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
