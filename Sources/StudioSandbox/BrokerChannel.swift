import HummingbirdCore
import Logging
import NIOCore
import StudioCore
import StudioNet

/// One broker connection: newline-framed JSON requests in, one answer line per request out.
struct BrokerChannel: ServerChildChannel {
    typealias Value = NIOAsyncChannel<ByteBuffer, ByteBuffer>

    let broker: Broker
    static let idleHandlerName = "idle"

    /// Writes `lines` until they end or the connection closes, whichever is first.
    static func send(
        _ lines: AsyncStream<[UInt8]>, to outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>, until closed: EventLoopFuture<Void>
    ) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await line in lines {
                    try await outbound.write(ByteBuffer(bytes: line + [UInt8(ascii: "\n")]))
                }
            }
            group.addTask { try? await closed.get() }
            _ = try await group.next()
            group.cancelAll()
        }
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandlers([
                CloseOnIdleHandler(),
                ByteToMessageHandler(LineFrameDecoder(maxLength: BrokerProtocol.maxMessageBytes)),
            ])
            // A silent connection is closed after a minute, but not while it is streaming (`logs -f`).
            try channel.pipeline.syncOperations.addHandler(IdleStateHandler(allTimeout: .seconds(60)), name: Self.idleHandlerName, position: .first)
            return try NIOAsyncChannel(wrappingChannelSynchronously: channel)
        }
    }

    func handle(value: Value, logger: Logger) async {
        do {
            let caller = try await PeerCredentials.of(value.channel)
            guard let ticket = broker.connections.enter(caller.uid) else {
                let answer = broker.reject(.busy("uid \(caller.uid) already has \(CallerLimits.connectionsPerUID) connections open to the broker; close some and try again"), caller: caller, op: nil)
                try await value.executeThenClose { _, outbound in
                    try await outbound.write(ByteBuffer(bytes: answer + [UInt8(ascii: "\n")]))
                }
                return
            }
            defer { broker.connections.leave(ticket) }
            try await value.executeThenClose { inbound, outbound in
                do {
                    for try await line in inbound {
                        switch await broker.reply(line: Array(buffer: line), caller: caller) {
                        case .line(let answer):
                            try await outbound.write(ByteBuffer(bytes: answer + [UInt8(ascii: "\n")]))
                        case .stream(let lines):
                            _ = try? await value.channel.pipeline.removeHandler(name: Self.idleHandlerName).get()
                            try await Self.send(lines, to: outbound, until: value.channel.closeFuture)
                            return  // a stream is the last answer on its connection
                        }
                    }
                } catch let error as LineFrameDecoder.LineTooLong {
                    let answer = broker.reject(.badRequest("\(error); a request must be one line of at most \(error.limit) bytes"), caller: caller, op: nil)
                    try await outbound.write(ByteBuffer(bytes: answer + [UInt8(ascii: "\n")]))
                }
            }
        } catch {
            logger.debug("broker connection ended with an error", metadata: ["error": "\(error)"])
        }
    }
}
