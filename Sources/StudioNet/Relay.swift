import NIOCore
import NIOPosix

/// Copies bytes both ways between a connection being served and another one, until either side ends; the broker
/// relays studiod to an agent, the agent relays to an app. Backpressure is each side's own: a write is awaited
/// before the next read.
public enum Relay {
    /// Connects to the unix socket at `path`.
    public static func connect(unixSocket path: String) async throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
        try await ClientBootstrap(group: NIOSingletons.posixEventLoopGroup)
            .connect(unixDomainSocketPath: path) { channel in
                channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
            }
    }

    /// Relays until one side closes, then closes both. `first` (bytes already read from the client) goes to `other`
    /// before anything else. The client's bytes come from `iterator`, already in use by the caller.
    public static func splice<Iterator: AsyncIteratorProtocol>(
        client: any Channel, _ iterator: inout Iterator, _ outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>,
        first: ByteBuffer? = nil, with other: NIOAsyncChannel<ByteBuffer, ByteBuffer>
    ) async throws where Iterator.Element == ByteBuffer {
        try await other.executeThenClose { otherInbound, otherOutbound in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    defer { client.close(promise: nil) }
                    for try await chunk in otherInbound { try await outbound.write(chunk) }
                }
                defer { other.channel.close(promise: nil) }
                if let first, first.readableBytes > 0 { try await otherOutbound.write(first) }
                while let chunk = try await iterator.next() { try await otherOutbound.write(chunk) }
            }
        }
    }
}
