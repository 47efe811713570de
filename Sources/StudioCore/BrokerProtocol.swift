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

/// The part of every request the broker reads first.
public struct BrokerRequestHeader: Codable, Sendable, Equatable {
    /// Protocol version the client speaks.
    public var v: Int
    /// The operation asked for.
    public var op: String

    public init(v: Int = BrokerProtocol.version, op: String) {
        self.v = v
        self.op = op
    }
}

/// A request with operation-specific parameters.
public struct BrokerRequest<Params: Codable & Sendable>: Codable, Sendable {
    public var v: Int
    public var op: String
    public var params: Params

    public init(op: String, params: Params) {
        self.v = BrokerProtocol.version
        self.op = op
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
    public var code: String
    /// What went wrong and what to do about it, for people.
    public var message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    /// The request is malformed or asks for something that does not exist.
    public static func badRequest(_ message: String) -> RequestError { .init(code: "bad_request", message: message) }
    /// The caller may not do this.
    public static func forbidden(_ message: String) -> RequestError { .init(code: "forbidden", message: message) }
    /// Another protocol version, or not now.
    public static func unsupported(_ message: String) -> RequestError { .init(code: "unsupported", message: message) }
    /// The daemon failed; details are in its journal.
    public static func internalError(_ message: String) -> RequestError { .init(code: "internal", message: message) }
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
