#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import StudioCore
import StudioNet

/// The broker's request handling: decodes a request line, checks who may ask, and encodes the answer.
///
/// Transport-free, so that it can be tested without sockets.
public struct Broker: Sendable {
    let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    /// The operations this broker answers, for error messages and `version`.
    public static let operations = ["version"]

    /// Answers one request line from `caller` with one JSON line (without the newline).
    public func handle(line: [UInt8], caller: PeerCredentials) async -> [UInt8] {
        let header: BrokerRequestHeader
        do {
            header = try JSONDecoder().decode(BrokerRequestHeader.self, from: Data(line))
        } catch {
            return reject(.badRequest("the request is not a JSON object with \"v\" and \"op\": \(Self.describe(error))"), caller: caller, op: nil)
        }
        guard header.v == BrokerProtocol.version else {
            return reject(.unsupported("protocol version \(header.v) is not supported; this broker speaks version \(BrokerProtocol.version). Use a studioctl of the same Studio release."), caller: caller, op: header.op)
        }
        switch header.op {
        case "version":
            return Self.encode(BrokerResponse.success(VersionInfo()))
        default:
            return reject(.badRequest("unknown operation \"\(header.op)\"; this broker knows: \(Self.operations.joined(separator: ", "))"), caller: caller, op: header.op)
        }
    }

    /// Logs a refused request and encodes the error answer.
    func reject(_ error: BrokerError, caller: PeerCredentials, op: String?) -> [UInt8] {
        logger.warning("refused request: \(error.message)", metadata: [
            "broker_op": "\(op ?? "-")", "caller_uid": "\(caller.uid)", "caller_pid": "\(caller.pid)", "error_code": "\(error.code)",
        ])
        return Self.encode(BrokerResponse<NoParams>.failure(error))
    }

    static func encode<T: Encodable>(_ value: T) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // Encoding our own plain structs cannot fail; fall back to a fixed error line if it ever does.
        return (try? Array(encoder.encode(value))) ?? Array(#"{"ok":false,"error":{"code":"internal","message":"encoding failed"}}"#.utf8)
    }

    /// A decoding error in a sentence, without Swift type names.
    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let context): context.underlyingError.map { "\($0)" } ?? context.debugDescription
        case DecodingError.keyNotFound(let key, _): "missing \"\(key.stringValue)\""
        case DecodingError.typeMismatch(_, let context): "wrong type at \(context.codingPath.map(\.stringValue).joined(separator: "."))"
        case DecodingError.valueNotFound(_, let context): "missing value at \(context.codingPath.map(\.stringValue).joined(separator: "."))"
        default: "\(error)"
        }
    }
}
