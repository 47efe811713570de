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
    static let framerName = "lines"

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
            ])
            try channel.pipeline.syncOperations.addHandler(
                ByteToMessageHandler(LineFrameDecoder(maxLength: BrokerProtocol.maxMessageBytes)), name: Self.framerName)
            // A silent connection is closed after a minute, but not while it is streaming (`logs -f`).
            try channel.pipeline.syncOperations.addHandler(IdleStateHandler(allTimeout: .seconds(60)), name: Self.idleHandlerName, position: .first)
            return try NIOAsyncChannel(wrappingChannelSynchronously: channel)
        }
    }

    func handle(value: Value, logger: Logger) async {
        do {
            let caller = try await PeerCredentials.of(value.channel)
            let counter = caller.uid == broker.service?.environment.studioUID ? broker.studiodConnections : broker.connections
            guard let ticket = counter.enter(caller.uid) else {
                let answer = broker.reject(.busy("uid \(caller.uid) already has \(counter.limit) connections open to the broker; close some and try again"), caller: caller, op: nil)
                try await value.executeThenClose { _, outbound in
                    try await outbound.write(ByteBuffer(bytes: answer + [UInt8(ascii: "\n")]))
                }
                return
            }
            defer { counter.leave(ticket) }
            try await value.executeThenClose { inbound, outbound in
                var lines = inbound.makeAsyncIterator()
                do {
                    while let line = try await lines.next() {
                        switch await broker.reply(line: Array(buffer: line), caller: caller) {
                        case .line(let answer):
                            try await outbound.write(ByteBuffer(bytes: answer + [UInt8(ascii: "\n")]))
                        case .stream(let lines):
                            _ = try? await value.channel.pipeline.removeHandler(name: Self.idleHandlerName).get()
                            try await Self.send(lines, to: outbound, until: value.channel.closeFuture)
                            return  // a stream is the last answer on its connection
                        case .relay(let answer, let agent, let release):
                            defer { release() }
                            try await outbound.write(ByteBuffer(bytes: answer + [UInt8(ascii: "\n")]))
                            // From here on the connection is the agent's: raw bytes, no line framing, no idle timeout.
                            _ = try? await value.channel.pipeline.removeHandler(name: Self.idleHandlerName).get()
                            _ = try? await value.channel.pipeline.removeHandler(name: Self.framerName).get()
                            try await Relay.splice(client: value.channel, &lines, outbound, with: agent)
                            return
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
