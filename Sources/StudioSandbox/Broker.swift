#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import StudioCore
import StudioNet
import StudioStore

/// What the broker sends back for one request: one line, or (for `logs`) a stream of lines.
public enum BrokerReply: Sendable {
    case line([UInt8])
    /// Lines until the stream ends or the client goes away.
    case stream(AsyncStream<[UInt8]>)
}

/// The broker's request handling: decodes a request line, checks who may ask, does it, and encodes the answer.
///
/// Transport-free, so that it can be tested without sockets.
public struct Broker: Sendable {
    let logger: Logger
    let service: WorkspaceService?
    /// Why workspace operations are unavailable (e.g. the database could not be opened), if they are.
    let unavailable: String?
    /// Open connections per caller.
    let connections = CallerCounter(limit: CallerLimits.connectionsPerUID)
    /// `logs --follow` streams per caller.
    let followers = CallerCounter(limit: CallerLimits.followersPerUID)

    /// A broker that answers only `version` (and says why the rest is unavailable).
    public init(logger: Logger, unavailable: String = "this broker has no workspace support") {
        self.logger = logger
        self.service = nil
        self.unavailable = unavailable
    }

    /// A broker for workspaces.
    public init(logger: Logger, environment: BrokerEnvironment) {
        self.logger = logger
        self.service = WorkspaceService(environment: environment, logger: logger)
        self.unavailable = nil
    }

    /// The operations this broker answers, for error messages and docs/broker-protocol.md.
    public static let operations = [
        "version", "create", "start", "stop", "restart", "delete", "list", "status", "set", "templates", "logs",
    ]

    /// Answers one request line from `caller` with one JSON line (without the newline).
    public func handle(line: [UInt8], caller: PeerCredentials) async -> [UInt8] {
        switch await reply(line: line, caller: caller) {
        case .line(let bytes): return bytes
        case .stream(let lines):
            var all: [UInt8] = []
            for await line in lines { all += line + [UInt8(ascii: "\n")] }
            return Array(all.dropLast())
        }
    }

    /// Answers one request line from `caller`.
    public func reply(line: [UInt8], caller: PeerCredentials) async -> BrokerReply {
        let header: BrokerRequestHeader
        do {
            header = try JSONDecoder().decode(BrokerRequestHeader.self, from: Data(line))
        } catch {
            return .line(reject(.badRequest("the request is not a JSON object with \"v\" and \"op\": \(Self.describe(error))"), caller: caller, op: nil))
        }
        guard header.v == BrokerProtocol.version else {
            return .line(reject(.unsupported("protocol version \(header.v) is not supported; this broker speaks version \(BrokerProtocol.version). Use a studioctl of the same Studio release."), caller: caller, op: header.op))
        }
        if header.op == "version" { return .line(Self.encode(BrokerResponse.success(VersionInfo()))) }
        guard Self.operations.contains(header.op) else {
            return .line(reject(.badRequest("unknown operation \"\(header.op)\"; this broker knows: \(Self.operations.joined(separator: ", "))"), caller: caller, op: header.op))
        }
        guard let service else {
            return .line(reject(.internalError("workspace operations are unavailable: \(unavailable ?? "")"), caller: caller, op: header.op))
        }
        do {
            return try await dispatch(header.op, line: line, caller: caller, service: service)
        } catch {
            return .line(reject(Self.brokerError(error), caller: caller, op: header.op))
        }
    }

    func dispatch(_ op: String, line: [UInt8], caller: PeerCredentials, service: WorkspaceService) async throws -> BrokerReply {
        func params<P: Codable & Sendable>(_ type: P.Type) throws -> P {
            do {
                return try JSONDecoder().decode(BrokerRequest<P>.self, from: Data(line)).params
            } catch {
                throw BrokerError.badRequest("bad parameters for \"\(op)\": \(Self.describe(error))")
            }
        }
        func answer<R: Codable & Sendable>(_ result: R) -> BrokerReply { .line(Self.encode(BrokerResponse.success(result))) }
        switch op {
        case "create": return answer(try await service.create(params(CreateParams.self), caller: caller))
        case "start": return answer(try await service.start(params(CreateParams.self), caller: caller))
        case "stop": return answer(try await service.stop(params(StopParams.self), caller: caller))
        case "restart": return answer(try await service.restart(params(WorkspaceTarget.self), caller: caller))
        case "delete": return answer(try await service.delete(params(WorkspaceTarget.self), caller: caller))
        case "status": return answer(try await service.status(params(WorkspaceTarget.self), caller: caller))
        case "list": return answer(try await service.list(params(ListParams.self), caller: caller))
        case "set": return answer(try await service.set(params(SetParams.self), caller: caller))
        case "templates": return answer(try await service.templates(caller: caller))
        case "logs":
            let request = try params(LogsParams.self)
            guard LogsParams.linesRange.contains(request.lines) else {
                throw BrokerError.badRequest("lines must be from \(LogsParams.linesRange.lowerBound) to \(LogsParams.linesRange.upperBound); got \(request.lines)")
            }
            let info = try await service.status(request.target, caller: caller)
            guard let follower = request.follow ? followers.enter(caller.uid) : .notCounted else {
                throw BrokerError.busy("you already follow \(CallerLimits.followersPerUID) workspace logs; stop one (Ctrl-C) and try again")
            }
            let entries = UnitLogs.stream(unit: info.unit, uid: info.definition.identity.uid, lines: request.lines, follow: request.follow, logger: logger)
            let followers = self.followers
            return .stream(AsyncStream { continuation in
                let task = Task {
                    for await entry in entries {
                        continuation.yield(entry.map { Self.encode(BrokerResponse.success($0)) } ?? Self.encode(BrokerResponse.success(LogsEnd())))
                    }
                    continuation.finish()
                }
                continuation.onTermination = { _ in
                    task.cancel()
                    followers.leave(follower)
                }
            })
        default:
            throw BrokerError.badRequest("unknown operation \"\(op)\"")
        }
    }

    /// Logs a refused request and encodes the error answer.
    func reject(_ error: BrokerError, caller: PeerCredentials, op: String?) -> [UInt8] {
        logger.warning("refused request: \(error.message)", metadata: [
            "broker_op": "\(op ?? "-")", "caller_uid": "\(caller.uid)", "caller_pid": "\(caller.pid)", "error_code": "\(error.code)",
        ])
        return Self.encode(BrokerResponse<NoParams>.failure(error))
    }

    /// Any error from the layers below, as the broker reports it.
    static func brokerError(_ error: any Error) -> BrokerError {
        switch error {
        case let error as BrokerError: error
        case let error as WorkspaceError: .from(error)
        case WorkspaceStoreFailure.workspace(let error): .from(error)
        case WorkspaceStoreFailure.store(let error): .internalError(error.message)
        case let error as ConfigError: .init(code: "config", message: "Studio's configuration is broken: \(error). An administrator must fix it.")
        case let error as UnitManagerError: .systemd("systemd could not do it: \(error.message)")
        default: .internalError("\(error)")
        }
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
        case DecodingError.typeMismatch(_, let context): "wrong type at \"\(context.codingPath.map(\.stringValue).joined(separator: "."))\""
        case DecodingError.valueNotFound(_, let context): "missing value at \"\(context.codingPath.map(\.stringValue).joined(separator: "."))\""
        case let error as WorkspaceError: error.description
        default: "\(error)"
        }
    }
}
