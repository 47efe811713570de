#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import StudioCore

/// Sends requests to the broker (`/run/studio/sandbox.sock`); who we are is taken by the broker from the kernel.
struct BrokerClient {
    let socketPath: String

    /// Sends one request and decodes its answer; a broker-side refusal is thrown as `BrokerError`.
    func call<Params: Codable & Sendable, Result: Codable & Sendable>(
        _ op: BrokerOperation, _ params: Params, as: Result.Type
    ) throws -> Result {
        // Starting a workspace waits for systemd, which gives a unit up to 90 s.
        let socket = try UnixSocket(path: socketPath, timeoutSeconds: 120)
        try Self.send(op, params, on: socket)
        guard let line = try socket.readLine() else {
            throw BrokerError.internalError("the broker closed the connection without answering; see `journalctl -u studio-sandbox.service`")
        }
        return try BrokerWire.result(of: line, as: Result.self)
    }

    /// Sends one request whose answer is a stream of lines; `body` gets each line until it returns false or the
    /// broker ends the stream. An error answer is thrown.
    func stream<Params: Codable & Sendable>(_ op: BrokerOperation, _ params: Params, _ body: ([UInt8]) throws -> Bool) throws {
        let socket = try UnixSocket(path: socketPath, timeoutSeconds: 0)
        try Self.send(op, params, on: socket)
        while let line = try socket.readLine() {
            if let error = BrokerWire.refusal(in: line) { throw error }
            guard try body(line) else { return }
        }
    }

    /// Writes the request. A broker that refuses a connection outright (`busy`) answers and closes before reading
    /// it, so a failed write first looks for that answer and throws it.
    static func send<Params: Codable & Sendable>(_ op: BrokerOperation, _ params: Params, on socket: UnixSocket) throws {
        let request = try BrokerWire.requestLine(op, params)
        do {
            try socket.write(request)
        } catch {
            if let line = try? socket.readLine(), let refusal = BrokerWire.refusal(in: line) { throw refusal }
            throw error
        }
    }
}
