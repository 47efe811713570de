import HTTPTypes
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOWebSocket
import Synchronization
@_spi(WSInternal) import WSCore

/// HTTP/1.1 with WebSocket upgrades, for studiod's listeners.
///
/// hummingbird-websocket's `HTTP1WebSocketUpgradeChannel` answers every refused upgrade with an empty 400. The web
/// API promises the refusal's reason as an ordinary HTTP error (403 for a foreign Origin, 401 without a login, 404,
/// 409 while stopped), so here the upgrade decision carries the reason and a refused upgrade is answered with it, as
/// JSON, and the connection closed (NIO's upgrader has consumed the request head by then, so the request cannot go
/// on to the router). The rest is that channel's: NIO's typed upgrader, and swift-websocket's frame handling
/// (`WebSocketHandler`, the same code hummingbird-websocket runs).
struct StudioHTTPChannel: ServerChildChannel, HTTPChannelHandler {
    typealias WebSocketHandlerFunction = @Sendable (NIOAsyncChannel<WebSocketFrame, WebSocketFrame>, Logger) async -> Void

    enum UpgradeResult: Sendable {
        case websocket(NIOAsyncChannel<WebSocketFrame, WebSocketFrame>, WebSocketHandlerFunction, Logger)
        case notUpgraded(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
        case refused(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, Refusal)
    }

    /// What to do with a WebSocket upgrade request.
    enum Decision: Sendable {
        case upgrade(HTTPFields, WebSocketDataHandler<Context>)
        /// Answer this instead (an error with its reason).
        case refuse(Refusal)
    }

    /// A complete answer to a refused upgrade.
    struct Refusal: Sendable {
        var head: HTTPResponse
        var body: ByteBuffer
    }

    struct Value: ServerChildChannelValue {
        let upgradeResult: EventLoopFuture<UpgradeResult>
        let channel: any Channel
    }

    /// What a WebSocket handler gets besides its streams.
    struct Context: WebSocketContext {
        let logger: Logger
    }

    /// What to do with an upgrade request.
    typealias Upgrade = @Sendable (HTTPRequest, any Channel, Logger) async -> Decision

    let responder: HTTPChannelHandler.Responder
    let upgrade: Upgrade
    var idleTimeout: Duration = .seconds(60)
    var maxFrameSize = 1 << 20

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let upgrade = self.upgrade
            let maxFrameSize = self.maxFrameSize
            // What was decided, for the upgraded (or refused) connection.
            let decided = Decided()
            let upgrader = NIOTypedWebSocketServerUpgrader<UpgradeResult>(
                maxFrameSize: maxFrameSize,
                shouldUpgrade: { channel, head in
                    let promise = channel.eventLoop.makePromise(of: HTTPHeaders?.self)
                    promise.completeWithTask {
                        guard let request = try? HTTPRequest(head, secure: false, splitCookie: false) else {
                            decided.refusal.withLock { $0 = Refusal(head: HTTPResponse(status: .badRequest), body: ByteBuffer()) }
                            return nil
                        }
                        switch await upgrade(request, channel, logger) {
                        case .upgrade(let headers, let handler):
                            decided.handler.withLock { $0 = handler }
                            return HTTPHeaders(headers)
                        case .refuse(let refusal):
                            decided.refusal.withLock { $0 = refusal }
                            return nil
                        }
                    }
                    return promise.futureResult
                },
                upgradePipelineHandler: { channel, _ in
                    channel.eventLoop.makeCompletedFuture {
                        let asyncChannel = try NIOAsyncChannel<WebSocketFrame, WebSocketFrame>(
                            wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
                        let run: WebSocketHandlerFunction = { asyncChannel, logger in
                            guard let handler = decided.handler.withLock({ $0 }) else {
                                try? await asyncChannel.channel.close()
                                return
                            }
                            do {
                                _ = try await WebSocketHandler.handle(
                                    type: .server,
                                    configuration: .init(extensions: [], autoPing: .enabled(timePeriod: .seconds(30)), validateUTF8: false, maxFrameSize: maxFrameSize),
                                    asyncChannel: asyncChannel, context: Context(logger: logger), handler: handler)
                            } catch {
                                logger.debug("WebSocket ended with an error", metadata: ["error": "\(error)"])
                            }
                        }
                        return UpgradeResult.websocket(asyncChannel, run, logger)
                    }
                })
            let configuration = NIOTypedHTTPServerUpgradeConfiguration<UpgradeResult>(
                upgraders: [upgrader],
                notUpgradingCompletionHandler: { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
                        try channel.pipeline.syncOperations.addHandler(
                            HTTPConnectionStateHandler(idleTimeout: self.idleTimeout, logger: logger))
                        let asyncChannel = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                            wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
                        if let refusal = decided.refusal.withLock({ $0.take() }) { return UpgradeResult.refused(asyncChannel, refusal) }
                        return UpgradeResult.notUpgraded(asyncChannel)
                    }
                })
            var pipeline = NIOUpgradableHTTPServerPipelineConfiguration<UpgradeResult>(upgradeConfiguration: configuration)
            pipeline.enablePipelining = false
            pipeline.enableErrorHandling = false
            pipeline.enableResponseHeaderValidation = false
            let result = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(configuration: pipeline)
            return Value(upgradeResult: result, channel: channel)
        }
    }

    final class Decided: Sendable {
        let handler = Mutex<WebSocketDataHandler<Context>?>(nil)
        let refusal = Mutex<Refusal?>(nil)
    }

    func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.upgradeResult.get() {
            case .notUpgraded(let http):
                await handleHTTP(asyncChannel: http, logger: logger)
            case .websocket(let channel, let run, let logger):
                await run(channel, logger)
            case .refused(let http, let refusal):
                try await http.executeThenClose { _, outbound in
                    var head = refusal.head
                    head.headerFields[.connection] = "close"
                    head.headerFields[.contentLength] = "\(refusal.body.readableBytes)"
                    try await outbound.write(contentsOf: [.head(head), .body(refusal.body), .end(nil)])
                }
            }
        } catch {
            logger.debug("connection ended before a request", metadata: ["error": "\(error)"])
        }
    }
}
