import HummingbirdCore
import Logging
import NIOCore
import StudioCore
import StudioNet

/// One broker connection: newline-framed JSON requests in, one answer line per request out.
struct BrokerChannel: ServerChildChannel {
    typealias Value = NIOAsyncChannel<ByteBuffer, ByteBuffer>

    let broker: Broker

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandlers([
                IdleStateHandler(allTimeout: .seconds(60)),
                CloseOnIdleHandler(),
                ByteToMessageHandler(LineFrameDecoder(maxLength: BrokerProtocol.maxMessageBytes)),
            ])
            return try NIOAsyncChannel(wrappingChannelSynchronously: channel)
        }
    }

    func handle(value: Value, logger: Logger) async {
        do {
            let caller = try await PeerCredentials.of(value.channel)
            try await value.executeThenClose { inbound, outbound in
                do {
                    for try await line in inbound {
                        let answer = await broker.handle(line: Array(buffer: line), caller: caller)
                        try await outbound.write(ByteBuffer(bytes: answer + [UInt8(ascii: "\n")]))
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
