#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NIOCore
import NIOPosix
import StudioCore
#if canImport(Glibc)
import Glibc
#endif

/// The async client of the broker (and, through it, of agents) that the daemons share: one connection per call,
/// the wire form from ``BrokerWire``. studiod sets `grant` (the user's login) and `remote` (their address).
public struct BrokerConnection: Sendable {
    public var socketPath: String
    public var grant: String?
    public var remote: String?

    public init(socketPath: String = Paths.brokerSocket, grant: String? = nil, remote: String? = nil) {
        self.socketPath = socketPath
        self.grant = grant
        self.remote = remote
    }

    /// Sends one request and decodes its answer; the broker's refusal is thrown as ``RequestError``, and a broker
    /// that cannot be reached as `unavailable`.
    public func call<Params: Codable & Sendable, Result: Codable & Sendable>(
        _ op: BrokerOperation, _ params: Params, as: Result.Type
    ) async throws -> Result {
        try await exchange(op, params) { stream in
            guard let line = try await stream.nextLine() else { throw Self.hungUp }
            return try BrokerWire.result(of: line, as: Result.self)
        }
    }

    /// Sends a request whose answer is a stream of lines (`logs`); `body` gets each decoded line until it returns
    /// false or the stream ends.
    public func stream<Params: Codable & Sendable, Line: Codable & Sendable>(
        _ op: BrokerOperation, _ params: Params, as: Line.Type, _ body: (Line) async throws -> Bool
    ) async throws {
        try await exchange(op, params) { stream in
            while let line = try await stream.nextLine() {
                if let refusal = BrokerWire.refusal(in: line) { throw refusal }
                guard let value = try? BrokerWire.result(of: line, as: Line.self) else { return }
                guard try await body(value) else { return }
            }
        }
    }

    /// Opens a connection to a workspace's agent through the broker, for the login in `grant`; `body` gets it
    /// after the agent accepted the request.
    public func connect<T: Sendable>(_ params: ConnectParams, _ body: (inout AgentStream) async throws -> T) async throws -> T {
        try await exchange(.connect, params) { stream in
            guard let line = try await stream.nextLine() else { throw Self.hungUp }
            _ = try BrokerWire.result(of: line, as: NoParams.self)
            guard let answer = try await stream.nextLine() else {
                throw RequestError.unavailable("the workspace's agent closed the connection; see the workspace's log")
            }
            let response = try JSONDecoder().decode(AgentResponse.self, from: Data(answer))
            if let error = response.error { throw error }
            stream.response = response
            return try await body(&stream)
        }
    }

    static let hungUp = RequestError.unavailable("the broker closed the connection without answering; see journalctl -u studio-sandbox")

    func exchange<Params: Codable & Sendable, T: Sendable>(
        _ op: BrokerOperation, _ params: Params, _ body: (inout AgentStream) async throws -> T
    ) async throws -> T {
        let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            channel = try await ClientBootstrap(group: NIOSingletons.posixEventLoopGroup)
                .connect(unixDomainSocketPath: socketPath) { channel in
                    channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
                }
        } catch {
            let reason = (error as? IOError).map { String(cString: strerror($0.errnoCode)) } ?? "\(error)"
            throw RequestError.unavailable("cannot reach the broker at \(socketPath) (\(reason)). Check `systemctl status studio-sandbox.socket`.")
        }
        let request = try BrokerWire.requestLine(op, params, grant: grant, remote: remote)
        return try await channel.executeThenClose { inbound, outbound in
            // A broker that refuses the connection (too many of the caller's) answers and closes at once, maybe
            // before the request is written: the answer is read all the same.
            var writeError: (any Error)?
            do {
                try await outbound.write(ByteBuffer(bytes: request))
            } catch {
                writeError = error
            }
            var stream = AgentStream(iterator: inbound.makeAsyncIterator(), outbound: outbound, channel: channel.channel)
            do {
                return try await body(&stream)
            } catch let error as RequestError {
                throw error
            } catch {
                throw writeError ?? error
            }
        }
    }
}

/// A connection read line by line (the broker's answers) and then as bytes or agent frames.
public struct AgentStream {
    var iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    var pending: [UInt8] = []
    var decoder = AgentFrameDecoder()
    public let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    public let channel: any Channel
    /// The agent's answer to the request.
    public var response = AgentResponse()

    init(iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator, outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>, channel: any Channel) {
        self.iterator = iterator
        self.outbound = outbound
        self.channel = channel
    }

    /// The next `\n`-terminated line, without it; nil at the end.
    mutating func nextLine(limit: Int = 16 << 20) async throws -> [UInt8]? {
        while true {
            if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(pending[..<newline])
                pending.removeSubrange(...newline)
                return line
            }
            guard pending.count <= limit, let chunk = try await iterator.next() else { return nil }
            pending += chunk.readableBytesView
        }
    }

    /// The next bytes, raw; nil at the end.
    public mutating func nextBytes() async throws -> ByteBuffer? {
        if !pending.isEmpty {
            defer { pending = [] }
            return ByteBuffer(bytes: pending)
        }
        return try await iterator.next()
    }

    /// The next agent frame; nil at the end.
    public mutating func nextFrame() async throws -> AgentFrame? {
        while true {
            if let frame = try decoder.next() { return frame }
            guard let bytes = try await nextBytes() else { return nil }
            decoder.feed(bytes.readableBytesView)
        }
    }

    /// Sends one agent frame.
    public func send(_ frame: AgentFrame) async throws {
        try await outbound.write(ByteBuffer(bytes: frame.encoded))
    }

    /// Sends raw bytes.
    public func write(_ bytes: ByteBuffer) async throws {
        try await outbound.write(bytes)
    }
}
