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
        _ op: String, _ params: Params, as: Result.Type
    ) throws -> Result {
        let socket = try UnixSocket(path: socketPath)
        var request = try JSONEncoder().encode(BrokerRequest(op: op, params: params))
        request.append(UInt8(ascii: "\n"))
        try socket.write(Array(request))
        guard let line = try socket.readLine() else {
            throw BrokerError.internalError("the broker closed the connection without answering; see `journalctl -u studio-sandbox.service`")
        }
        let response = try JSONDecoder().decode(BrokerResponse<Result>.self, from: Data(line))
        if let error = response.error { throw error }
        guard let result = response.result else { throw BrokerError.internalError("the broker answered without a result") }
        return result
    }
}
