#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The broker's request protocol, version 1 (documented in docs/broker-protocol.md).
///
/// One connection carries requests and answers as single lines of JSON. A request is
/// `{"v":1,"op":"<name>","params":{…}}`; an answer is `{"ok":true,"result":{…}}` or
/// `{"ok":false,"error":{"code":"…","message":"…"}}`. The caller is known from the kernel (SO_PEERCRED),
/// never from anything in the request.
public enum BrokerProtocol {
    /// The protocol version this build speaks.
    public static let version = 1
    /// The largest request line the broker reads; a longer one is refused and the connection closed.
    public static let maxMessageBytes = 64 * 1024
}

/// Every operation the broker answers.
public enum BrokerOperation: String, Codable, Sendable, CaseIterable {
    case version, create, start, stop, restart, delete, list, status, set, templates, logs
    /// Postpone stopping a running workspace for idleness.
    case keep
    /// The container images in /var/lib/machines.
    case images
    /// Drop a stopped container workspace's own layer.
    case reset
    /// studiod: check a password through PAM and get a login grant.
    case login
    /// With a grant: who it is for and when it ends.
    case session
    /// With a grant: end it, and everything made from it.
    case logout
    /// With a session grant: a one-time ticket for one app.
    case ticket
    /// studiod: exchange a ticket for an app grant.
    case redeem
    /// With a grant: a connection to the workspace's agent, relayed by the broker.
    case connect
}

/// The part of every request the broker reads first.
public struct BrokerRequestHeader: Codable, Sendable, Equatable {
    /// Protocol version the client speaks.
    public var v: Int
    /// The operation asked for (kept as text, so that an unknown one can be named in the answer).
    public var op: String
    /// A login grant's token: studiod acts with it for the user who logged in (from studiod only).
    public var grant: String?
    /// The address of the person studiod acts for, for the audit trail (from studiod only).
    public var remote: String?

    public init(v: Int = BrokerProtocol.version, op: String, grant: String? = nil, remote: String? = nil) {
        self.v = v
        self.op = op
        self.grant = grant
        self.remote = remote
    }
}

/// A request with operation-specific parameters.
public struct BrokerRequest<Params: Codable & Sendable>: Codable, Sendable {
    public var v: Int
    public var op: String
    public var grant: String?
    public var remote: String?
    public var params: Params

    public init(op: BrokerOperation, params: Params, grant: String? = nil, remote: String? = nil) {
        self.v = BrokerProtocol.version
        self.op = op.rawValue
        self.grant = grant
        self.remote = remote
        self.params = params
    }
}

/// Parameters of a request that takes none.
public struct NoParams: Codable, Sendable, Equatable {
    public init() {}
}

/// An error a Studio daemon (the broker, an agent) sends back for a request: a stable code for programs and a
/// message for people.
public struct RequestError: Error, Codable, Sendable, Equatable, CustomStringConvertible {
    public var code: ErrorCode
    /// What went wrong and what to do about it, for people.
    public var message: String
    /// For `rate_limited` and `busy`: when to try again.
    public var retryAfterSeconds: Int?

    public init(code: ErrorCode, message: String, retryAfterSeconds: Int? = nil) {
        self.code = code
        self.message = message
        self.retryAfterSeconds = retryAfterSeconds
    }

    public var description: String { message }

    /// The request is malformed or asks for something that does not exist.
    public static func badRequest(_ message: String) -> RequestError { .init(code: .badRequest, message: message) }
    /// The caller may not do this.
    public static func forbidden(_ message: String) -> RequestError { .init(code: .forbidden, message: message) }
    /// Another protocol version, or not now.
    public static func unsupported(_ message: String) -> RequestError { .init(code: .unsupported, message: message) }
    /// The daemon failed; details are in its journal.
    public static func internalError(_ message: String) -> RequestError { .init(code: .internal, message: message) }
    /// No such workspace, user, terminal or app.
    public static func notFound(_ message: String) -> RequestError { .init(code: .notFound, message: message) }
    /// It exists already, or is not in a state that allows this.
    public static func conflict(_ message: String) -> RequestError { .init(code: .conflict, message: message) }
    /// systemd refused or failed.
    public static func systemd(_ message: String) -> RequestError { .init(code: .systemd, message: message) }
    /// The caller has too much going on at once (connections, log followers); it may retry later.
    public static func busy(_ message: String) -> RequestError { .init(code: .busy, message: message) }
    /// No login, or one that ended.
    public static func unauthorized(_ message: String) -> RequestError { .init(code: .unauthorized, message: message) }
    /// A daemon cannot be reached.
    public static func unavailable(_ message: String) -> RequestError { .init(code: .unavailable, message: message) }
}

/// The broker's errors.
public typealias BrokerError = RequestError

/// The answer to a request.
public struct BrokerResponse<Result: Codable & Sendable>: Codable, Sendable {
    public var ok: Bool
    public var result: Result?
    public var error: BrokerError?

    public static func success(_ result: Result) -> BrokerResponse { .init(ok: true, result: result, error: nil) }
    public static func failure(_ error: BrokerError) -> BrokerResponse { .init(ok: false, result: nil, error: error) }
}

/// The answer to `version`.
public struct VersionInfo: Codable, Sendable, Equatable {
    /// Studio's release.
    public var version: String
    /// The broker protocol version.
    public var protocolVersion: Int

    public init(version: String = StudioVersion.string, protocolVersion: Int = BrokerProtocol.version) {
        self.version = version
        self.protocolVersion = protocolVersion
    }
}

/// The answer to studiod's `GET /healthz`.
public struct Health: Codable, Sendable, Equatable {
    public var status: String
    public var version: String
    /// Seconds since this studiod process started.
    public var uptimeSeconds: Double
    /// What is wrong with the configuration files (studiod then runs with defaults), if anything.
    public var configError: String?

    public init(status: String = "ok", version: String = StudioVersion.string, uptimeSeconds: Double, configError: String? = nil) {
        self.status = status
        self.version = version
        self.uptimeSeconds = uptimeSeconds
        self.configError = configError
    }
}

/// The broker's wire form in one place, for every client (studioctl's blocking one, the daemons' async one).
public enum BrokerWire {
    /// One request line, with its newline.
    public static func requestLine<Params: Codable & Sendable>(
        _ op: BrokerOperation, _ params: Params, grant: String? = nil, remote: String? = nil
    ) throws -> [UInt8] {
        var bytes = Array(try JSONEncoder().encode(BrokerRequest(op: op, params: params, grant: grant, remote: remote)))
        bytes.append(UInt8(ascii: "\n"))
        return bytes
    }

    /// The result of one answer line; the broker's refusal is thrown as ``RequestError``.
    public static func result<Result: Codable & Sendable>(of line: [UInt8], as: Result.Type) throws -> Result {
        let response = try JSONDecoder().decode(BrokerResponse<Result>.self, from: Data(line))
        if let error = response.error { throw error }
        guard let result = response.result else { throw BrokerError.internalError("the broker answered without a result") }
        return result
    }

    /// The refusal in an answer line, if it is one.
    public static func refusal(in line: [UInt8]) -> RequestError? {
        try? JSONDecoder().decode(BrokerResponse<NoParams>.self, from: Data(line)).error
    }

    /// A decoding error in a sentence, without Swift type names (for the broker's and the agent's answers).
    public static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let context): context.underlyingError.map { "\($0)" } ?? context.debugDescription
        case DecodingError.keyNotFound(let key, _): "missing \"\(key.stringValue)\""
        case DecodingError.typeMismatch(_, let context): "wrong type at \"\(context.codingPath.map(\.stringValue).joined(separator: "."))\""
        case DecodingError.valueNotFound(_, let context): "missing value at \"\(context.codingPath.map(\.stringValue).joined(separator: "."))\""
        case let error as WorkspaceError: error.description
        default: "\(error)"
        }
    }
}
