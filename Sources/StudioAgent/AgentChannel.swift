#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import HummingbirdCore
import Logging
import NIOCore
import StudioCore
import StudioNet

/// One connection to the agent: a JSON request line, a JSON answer line, and for `attach` and `exec` binary frames
/// both ways until the session ends.
struct AgentChannel: ServerChildChannel {
    typealias Value = NIOAsyncChannel<ByteBuffer, ByteBuffer>

    let agent: Agent
    /// How long a client may take to send its request line.
    var requestTimeout: TimeAmount = .seconds(10)

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            try NIOAsyncChannel(wrappingChannelSynchronously: channel)
        }
    }

    func handle(value: Value, logger: Logger) async {
        let connection = value.channel
        let timeout = connection.eventLoop.scheduleTask(in: requestTimeout) { connection.close(promise: nil) }
        defer { timeout.cancel() }
        do {
            let caller = try await PeerCredentials.of(connection)
            try await value.executeThenClose { inbound, outbound in
                var iterator = inbound.makeAsyncIterator()
                if let (app, rest) = try await serve(&iterator, on: connection, caller: caller, timeout: timeout) {
                    try await Relay.splice(client: connection, &iterator, outbound, first: rest, with: app)
                }
            }
        } catch {
            logger.debug("agent connection ended with an error", metadata: ["error": "\(error)"])
            connection.close(promise: nil)
        }
    }

    /// Serves the request and its session; for an `app` request, returns the app's connection and the bytes after
    /// the request line, for the caller to relay.
    private func serve(
        _ inbound: inout NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator, on connection: any Channel, caller: PeerCredentials,
        timeout: Scheduled<Void>
    ) async throws -> (NIOAsyncChannel<ByteBuffer, ByteBuffer>, ByteBuffer)? {
        var line: [UInt8] = []
        var decoder = AgentFrameDecoder()
        var session: (any AgentSession)?
        var relaying = false
        return try await withThrowingTaskGroup(of: Void.self) { group -> (NIOAsyncChannel<ByteBuffer, ByteBuffer>, ByteBuffer)? in
            defer {
                // The client left, broke the protocol, or got its one answer: the session (if any) ends with it.
                session?.clientGone()
                if !relaying { connection.close(promise: nil) }
            }
            while let chunk = try await inbound.next() {
                if let session {
                    decoder.feed(chunk.readableBytesView)
                    do {
                        while let frame = try decoder.next() { await session.receive(frame) }
                    } catch {
                        _ = await connection.write(frame: .error("\(error); closing the connection"))
                        agent.logger.error("bad frame from client: \(error)", metadata: ["caller_uid": "\(caller.uid)"])
                        return nil
                    }
                    continue
                }
                line += chunk.readableBytesView
                guard let newline = line.firstIndex(of: UInt8(ascii: "\n")) else {
                    if line.count > AgentProtocol.maxRequestBytes {
                        try await answer(tooLong(caller), on: connection)
                        return nil
                    }
                    continue
                }
                guard newline <= AgentProtocol.maxRequestBytes else {
                    try await answer(tooLong(caller), on: connection)
                    return nil
                }
                timeout.cancel()
                switch await agent.open(line: line[..<newline], caller: caller) {
                case .answer(let response):
                    try await answer(response, on: connection)
                    return nil
                case .relay(let app, let response):
                    try await answer(response, on: connection)
                    relaying = true
                    return (app, ByteBuffer(bytes: line[(newline + 1)...]))
                case .session(let opened, let response):
                    session = opened
                    try await answer(response, on: connection)
                    group.addTask {
                        await opened.pump(to: connection)
                        // The session is over (the exit frame is out): end the connection.
                        connection.close(promise: nil)
                    }
                    decoder.feed(line[(newline + 1)...])
                    line = []
                    do {
                        while let frame = try decoder.next() { await opened.receive(frame) }
                    } catch {
                        _ = await connection.write(frame: .error("\(error); closing the connection"))
                        return nil
                    }
                }
            }
            return nil
        }
    }

    private func tooLong(_ caller: PeerCredentials) -> AgentResponse {
        agent.reject(.badRequest("request longer than \(AgentProtocol.maxRequestBytes) bytes; a request is one line of JSON"), caller: caller, op: nil)
    }

    private func answer(_ response: AgentResponse, on connection: any Channel) async throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var bytes = try Array(encoder.encode(response))
        bytes.append(UInt8(ascii: "\n"))
        try await connection.writeAndFlush(ByteBuffer(bytes: bytes)).get()
    }
}
