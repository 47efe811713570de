/// The stable error codes of every Studio protocol (broker, agent, web API), each with the HTTP status the web API
/// answers with and the exit code studioctl ends with. Matched by value everywhere; never by string.
public enum ErrorCode: String, Codable, Sendable, CaseIterable {
    /// The request is malformed or asks for something invalid (a bad name, a limit out of range).
    case badRequest = "bad_request"
    /// No login, or a login that ended; a wrong password.
    case unauthorized
    /// The caller may not do this.
    case forbidden
    /// No such workspace, user, terminal or app.
    case notFound = "not_found"
    /// It exists already, or is not in a state that allows this (not running).
    case conflict
    /// Too many login attempts; retry after a while.
    case rateLimited = "rate_limited"
    /// Too much going on at once for this caller (connections, log followers); retry later.
    case busy
    /// A daemon (the broker, a workspace's agent) cannot be reached.
    case unavailable
    /// Another protocol version, or not supported here.
    case unsupported
    /// A program could not be started in the workspace.
    case spawnFailed = "spawn_failed"
    /// systemd refused or failed.
    case systemd
    /// Studio's configuration is broken; an administrator must fix it.
    case config
    /// The daemon failed; details are in its journal.
    case `internal`

    /// Decodes codes from a newer peer as `internal` rather than failing the whole answer.
    public init(from decoder: any Decoder) throws {
        let raw = try decoder.singleValueContainer().decode(String.self)
        self = ErrorCode(rawValue: raw) ?? .internal
    }

    /// The status the web API answers with.
    public var httpStatus: Int {
        switch self {
        case .badRequest: 400
        case .unauthorized: 401
        case .forbidden: 403
        case .notFound: 404
        case .conflict: 409
        case .rateLimited, .busy: 429
        case .unavailable: 503
        case .unsupported: 400
        case .spawnFailed, .systemd, .config, .internal: 500
        }
    }

    /// What studioctl exits with (sysexits.h): 65 bad input, 66 no such thing, 69 unavailable, 70 internal,
    /// 71 systemd, 75 conflict or busy (retry later), 76 protocol, 77 no permission, 78 configuration.
    public var exitCode: Int32 {
        switch self {
        case .badRequest: 65
        case .notFound: 66
        case .unavailable: 69
        case .internal: 70
        case .systemd: 71
        case .conflict, .busy, .rateLimited: 75
        case .unsupported: 76
        case .unauthorized, .forbidden: 77
        case .config: 78
        case .spawnFailed: 1
        }
    }
}
