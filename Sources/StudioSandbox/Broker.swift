#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import NIOCore
import StudioCore
import StudioNet
import StudioStore

/// What the broker sends back for one request: one line, or (for `logs`) a stream of lines.
public enum BrokerReply: Sendable {
    case line([UInt8])
    /// Lines until the stream ends or the client goes away.
    case stream(AsyncStream<[UInt8]>)
    /// This line, then the connection relays bytes to and from the agent; `release` runs when the relay ends.
    case relay([UInt8], NIOAsyncChannel<ByteBuffer, ByteBuffer>, release: @Sendable () -> Void)
}

/// The broker's request handling: decodes a request line, checks who may ask, does it, and encodes the answer.
///
/// Transport-free, so that it can be tested without sockets.
public struct Broker: Sendable {
    let logger: Logger
    let service: WorkspaceService?
    let logins: LoginService?
    /// Why workspace operations are unavailable (e.g. the database could not be opened), if they are.
    let unavailable: String?
    /// Open connections per caller.
    let connections = CallerCounter(limit: CallerLimits.connectionsPerUID)
    /// Open connections of studiod, which holds every web user's.
    let studiodConnections = CallerCounter(limit: CallerLimits.studiodConnections)
    /// Agent connections relayed for web users, per user.
    let relays = CallerCounter(limit: CallerLimits.relaysPerUser)
    /// `logs --follow` streams per caller.
    let followers = CallerCounter(limit: CallerLimits.followersPerUID)

    /// A broker that answers only `version` (and says why the rest is unavailable).
    public init(logger: Logger, unavailable: String = "this broker has no workspace support") {
        self.logger = logger
        self.service = nil
        self.logins = nil
        self.unavailable = unavailable
    }

    /// A broker for workspaces.
    public init(logger: Logger, environment: BrokerEnvironment) {
        self.logger = logger
        let service = WorkspaceService(environment: environment, logger: logger)
        self.service = service
        self.logins = LoginService(environment: environment, audit: service.audit, logger: logger)
        self.unavailable = nil
    }

    /// The operations this broker answers, for error messages and docs/broker-protocol.md.
    public static let operations = BrokerOperation.allCases.map(\.rawValue)

    /// Operations that need a login grant, and the grants that may do them.
    static func grantKinds(for op: BrokerOperation) -> Set<GrantKind> {
        op == .connect ? [.session, .app] : [.session]
    }

    /// Answers one request line from `caller` with one JSON line (without the newline).
    public func handle(line: [UInt8], caller: PeerCredentials) async -> [UInt8] {
        switch await reply(line: line, caller: caller) {
        case .line(let bytes): return bytes
        case .stream(let lines):
            var all: [UInt8] = []
            for await line in lines { all += line + [UInt8(ascii: "\n")] }
            return Array(all.dropLast())
        case .relay(let line, let agent, let release):
            try? await agent.channel.close()
            release()
            return line
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
        guard let op = BrokerOperation(rawValue: header.op) else {
            return .line(reject(.badRequest("unknown operation \"\(header.op)\"; this broker knows: \(Self.operations.joined(separator: ", "))"), caller: caller, op: header.op))
        }
        if op == .version { return .line(Self.encode(BrokerResponse.success(VersionInfo()))) }
        guard let service, let logins else {
            return .line(reject(.internalError("workspace operations are unavailable: \(unavailable ?? "")"), caller: caller, op: header.op))
        }
        // studiod's word on the person's address is recorded, nobody else's.
        let fromStudiod = caller.uid == service.environment.studioUID
        let remote = fromStudiod ? header.remote.map { String($0.prefix(100)) } : nil
        return await Audit.$remoteAddress.withValue(remote) {
            do {
                var grant: Grant?
                if let token = header.grant {
                    guard fromStudiod || caller.uid == 0 else {
                        throw BrokerError.forbidden("only studiod presents login grants")
                    }
                    grant = try await logins.grant(token, kinds: Self.grantKinds(for: op))
                } else if [.session, .logout, .ticket, .connect].contains(op) {
                    throw BrokerError.unauthorized("\(op.rawValue) needs a login grant; log in on the dashboard")
                }
                // With a grant, the broker acts as the user it was issued for, with exactly their rights.
                let actor = grant.map { PeerCredentials(pid: caller.pid, uid: $0.uid, gid: caller.gid) } ?? caller
                return try await dispatch(op, line: line, caller: actor, grant: grant, direct: caller, service: service, logins: logins)
            } catch {
                return .line(reject(Self.brokerError(error), caller: caller, op: header.op))
            }
        }
    }

    func dispatch(
        _ op: BrokerOperation, line: [UInt8], caller: PeerCredentials, grant: Grant?, direct: PeerCredentials,
        service: WorkspaceService, logins: LoginService
    ) async throws -> BrokerReply {
        func params<P: Codable & Sendable>(_ type: P.Type) throws -> P {
            do {
                return try JSONDecoder().decode(BrokerRequest<P>.self, from: Data(line)).params
            } catch {
                throw BrokerError.badRequest("bad parameters for \"\(op)\": \(Self.describe(error))")
            }
        }
        func answer<R: Codable & Sendable>(_ result: R) -> BrokerReply { .line(Self.encode(BrokerResponse.success(result))) }
        switch op {
        case .version: return answer(VersionInfo())
        case .create: return answer(try await service.create(params(CreateParams.self), caller: caller))
        case .start: return answer(try await service.start(params(CreateParams.self), caller: caller))
        case .stop: return answer(try await service.stop(params(StopParams.self), caller: caller))
        case .restart: return answer(try await service.restart(params(WorkspaceTarget.self), caller: caller))
        case .delete: return answer(try await service.delete(params(WorkspaceTarget.self), caller: caller))
        case .status: return answer(try await service.status(params(WorkspaceTarget.self), caller: caller, purpose: .status))
        case .list: return answer(try await service.list(params(ListParams.self), caller: caller))
        case .set: return answer(try await service.set(params(SetParams.self), caller: caller))
        case .keep: return answer(try await service.keep(params(KeepParams.self), caller: caller))
        case .reset: return answer(try await service.reset(params(ResetParams.self), caller: caller))
        case .templates: return answer(try await service.templates(caller: caller))
        case .images: return answer(try await service.images(caller: caller))
        case .login: return answer(try await logins.login(params(LoginParams.self), caller: direct))
        case .session: return answer(LoginService.info(try require(grant)))
        case .logout: return answer(try await logins.logout(try require(grant), caller: direct, remote: Audit.remoteAddress))
        case .ticket: return answer(try await logins.ticket(params(TicketParams.self), session: try require(grant)))
        case .redeem: return answer(try await logins.redeem(params(RedeemParams.self), caller: direct))
        case .connect: return try await connect(params(ConnectParams.self), grant: try require(grant), caller: caller, service: service)
        case .logs:
            let request = try params(LogsParams.self)
            guard LogsParams.linesRange.contains(request.lines) else {
                throw BrokerError.badRequest("lines must be from \(LogsParams.linesRange.lowerBound) to \(LogsParams.linesRange.upperBound); got \(request.lines)")
            }
            let info = try await service.status(request.target, caller: caller)
            guard let follower = request.follow ? followers.enter(caller.uid) : .notCounted else {
                throw BrokerError.busy("you already follow \(CallerLimits.followersPerUID) workspace logs; stop one (Ctrl-C) and try again")
            }
            let entries = UnitLogs.stream(unit: info.unit, uids: UnitLogs.uids(of: info), lines: request.lines, follow: request.follow, logger: logger)
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
        }
    }

    func require(_ grant: Grant?) throws -> Grant {
        guard let grant else { throw BrokerError.unauthorized("this needs a login grant; log in on the dashboard") }
        return grant
    }

    /// Opens a connection to the workspace's agent for a grant's holder and relays it: any request on the user's own
    /// workspace with a session grant, only its one app with an app grant.
    func connect(_ params: ConnectParams, grant: Grant, caller: PeerCredentials, service: WorkspaceService) async throws -> BrokerReply {
        // Apps are entered only with an app grant (from a one-time ticket), and an app grant opens only its app.
        if grant.kind == .app {
            guard params.request.op == "app", params.request.app == grant.app, params.name == grant.workspace,
                  params.owner == nil || params.owner == grant.owner else {
                throw BrokerError.forbidden("this app login opens only \(grant.owner ?? "")/\(grant.workspace ?? "")'s app \(grant.app ?? "")")
            }
        } else if params.request.op == "app" {
            throw BrokerError.forbidden("an app is opened with its own login from a ticket; open it from the dashboard")
        }
        let info = try await service.status(WorkspaceTarget(owner: params.owner, name: params.name), caller: caller)
        guard info.state == "running" else {
            throw BrokerError.conflict("workspace \"\(params.name)\" is \(info.state); start it first")
        }
        guard let ticket = relays.enter(grant.uid) else {
            throw BrokerError.busy("you already have \(CallerLimits.relaysPerUser) terminal and app connections open; close some and try again")
        }
        let agent: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            agent = try await Relay.connect(unixSocket: info.agentSocket)
            var request = try JSONEncoder().encode(params.request)
            request.append(UInt8(ascii: "\n"))
            try await agent.channel.writeAndFlush(ByteBuffer(bytes: request))
        } catch {
            relays.leave(ticket)
            throw BrokerError.unavailable("the agent of \(info.definition.identity.displayName) is not answering; see `journalctl -u \(info.unit)`")
        }
        let relays = self.relays
        return .relay(Self.encode(BrokerResponse.success(NoParams())), agent, release: { relays.leave(ticket) })
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
        case let error as ConfigError: .init(code: .config, message: "Studio's configuration is broken: \(error). An administrator must fix it.")
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
    static func describe(_ error: any Error) -> String { BrokerWire.describe(error) }
}
