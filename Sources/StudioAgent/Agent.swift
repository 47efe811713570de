#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import NIOCore
import StudioCore
import StudioNet
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Who may talk to a workspace's agent: its owner and root, by uid. The socket (the owner's, mode 0600) already
/// keeps others out; this is the second lock. No service is trusted by its uid here: studiod will reach an agent
/// only through a connection the broker opens for a user's live login grant and hands over (docs/architecture.md).
///
/// In a container (`everyone`) the second lock cannot exist: every host peer shows as uid 65534 and pid 0 through
/// SO_PEERCRED inside the container's user namespace, so every connection on the listener is let in, and the
/// listening socket's owner and mode on the host are the only lock.
struct AgentAccess: Sendable, Equatable {
    var owner: UInt32
    var everyone = false

    func allows(_ caller: PeerCredentials) -> Bool {
        everyone || caller.uid == owner || caller.uid == 0
    }
}

/// The in-workspace agent: answers requests and opens sessions on terminals and programs; keeps the apps running.
///
/// Transport-free: ``AgentChannel`` feeds it request lines and frames.
final class Agent: Sendable {
    /// What a request line leads to.
    enum Opening: Sendable {
        /// Send this line and close.
        case answer(AgentResponse)
        /// Send this line, then run the session.
        case session(any AgentSession, AgentResponse)
        /// Send this line, then relay bytes to and from this connected app socket.
        case relay(NIOAsyncChannel<ByteBuffer, ByteBuffer>, AgentResponse)
    }

    /// The operations the agent knows, for error messages.
    static let operations = ["attach", "exec", "terminals", "apps", "app"]

    let spec: AgentSpec
    let access: AgentAccess
    let terminals: TerminalRegistry
    let apps: AppSupervisor
    let environment: AgentEnvironment
    let logger: Logger
    /// Writes an activity record for studio-idled (throttled).
    let activity: @Sendable (ActivitySource) -> Void
    private let execs = Mutex<(next: Int, stops: [Int: @Sendable () -> Void])>((0, [:]))
    private let shuttingDown = Atomic<Bool>(false)

    init(spec: AgentSpec, access: AgentAccess? = nil, appBackoff: AppSupervisor.Backoff = .init(), logger: Logger) {
        self.spec = spec
        self.access = access ?? AgentAccess(owner: spec.workspace.uid, everyone: spec.container != nil)
        self.logger = logger
        environment = AgentEnvironment(spec: spec)
        let recorder = ActivityRecorder(logger: logger, now: { Date().timeIntervalSince1970 })
        let (owner, name) = (spec.workspace.owner, spec.workspace.name.rawValue)
        activity = { recorder.record($0, owner: owner, workspace: name) }
        terminals = TerminalRegistry(spec: spec, environment: environment, logger: logger)
        let runtimeDirectory = String(spec.socketPath.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/"))
        apps = AppSupervisor(spec: spec, environment: environment, runtimeDirectory: runtimeDirectory, backoff: appBackoff, logger: logger)
    }

    /// Handles the first line of a connection.
    func open(line: ArraySlice<UInt8>, caller: PeerCredentials) async -> Opening {
        guard access.allows(caller) else {
            return .answer(reject(.forbidden("uid \(caller.uid) may not use \(spec.workspace.displayName)"), caller: caller, op: nil))
        }
        let request: AgentRequest
        do {
            request = try JSONDecoder().decode(AgentRequest.self, from: Data(line))
        } catch {
            return .answer(reject(.badRequest("the request is not a JSON object with \"v\" and \"op\": \(BrokerWire.describe(error))"), caller: caller, op: nil))
        }
        guard request.v == AgentProtocol.version else {
            return .answer(reject(.unsupported("protocol version \(request.v) is not supported; this agent speaks version \(AgentProtocol.version). Restart the workspace after upgrading Studio."), caller: caller, op: request.op))
        }
        guard !shuttingDown.load(ordering: .relaxed) || !["attach", "exec"].contains(request.op) else {
            return .answer(reject(.unsupported("the workspace is stopping"), caller: caller, op: request.op))
        }
        do {
            switch request.op {
            case "terminals":
                return .answer(AgentResponse(terminals: await terminals.list()))
            case "apps":
                return .answer(AgentResponse(apps: apps.status()))
            case "attach":
                return try await attach(request, caller: caller)
            case "exec":
                return try await exec(request, caller: caller)
            case "app":
                return try await connectApp(request, caller: caller)
            default:
                throw AgentError.badRequest("unknown operation \"\(request.op)\"; this agent knows: \(Self.operations.joined(separator: ", "))")
            }
        } catch let error as AgentError {
            return .answer(reject(error, caller: caller, op: request.op))
        } catch let error as ProcessSpawner.Failure {
            return .answer(reject(.spawnFailed(error.description), caller: caller, op: request.op))
        } catch {
            return .answer(reject(.internalError("\(error)"), caller: caller, op: request.op))
        }
    }

    /// Whom a request runs as: root inside a container for `root: true`, else the owner. The host backend refuses
    /// root: there the agent is the owner, and nothing may become root on the host.
    func identity(for request: AgentRequest) throws(AgentError) -> SessionIdentity {
        guard request.root == true else { return environment.owner }
        guard let root = environment.root else {
            throw .forbidden("root sessions are only for container workspaces; \(spec.workspace.displayName) runs on the host as \(spec.workspace.owner)")
        }
        return root
    }

    private func attach(_ request: AgentRequest, caller: PeerCredentials) async throws -> Opening {
        let identity = try identity(for: request)
        let name = request.terminal ?? (identity.isRoot ? AgentProtocol.rootTerminal : AgentProtocol.defaultTerminal)
        guard AgentProtocol.isValidTerminalName(name) else {
            throw AgentError.badRequest("\"\(name)\" is not a terminal name: use 1 to 64 of A-Z a-z 0-9 . _ -")
        }
        let size = PseudoTerminal.clampedSize(cols: request.cols, rows: request.rows)
        let attached = try await terminals.attach(name, cols: size.cols, rows: size.rows, as: identity)
        if !attached.created, request.cols != nil || request.rows != nil {
            attached.terminal.resize(cols: size.cols, rows: size.rows)
        }
        logger.info("client attached to terminal \(name)", metadata: [
            "terminal": "\(name)", "caller_uid": "\(caller.uid)", "caller_pid": "\(caller.pid)", "created": "\(attached.created)",
            "root": "\(identity.isRoot)",
        ])
        let session = AttachSession(terminal: attached.terminal, client: attached.client.id, frames: attached.client.frames, hangUpOnDetach: false, activity: activity)
        return .session(session, AgentResponse(terminal: attached.terminal.info(created: attached.created)))
    }

    /// Connects to an app's socket, for the app proxy.
    private func connectApp(_ request: AgentRequest, caller: PeerCredentials) async throws -> Opening {
        guard let name = request.app, let status = apps.status().first(where: { $0.name == name }) else {
            let known = apps.status().map(\.name)
            throw AgentError.notFound("this workspace has no app \"\(request.app ?? "")\"" + (known.isEmpty ? "; its template defines none" : "; it has: \(known.joined(separator: ", "))"))
        }
        let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            channel = try await Relay.connect(unixSocket: status.socket)
        } catch {
            throw AgentError.unavailable("app \(name) is not answering on its socket (\(status.running ? "it is running but not listening on $STUDIO_APP_SOCKET yet" : "it is not running; see the workspace's log")); try again in a moment")
        }
        logger.debug("app connection", metadata: ["app": "\(name)", "caller_uid": "\(caller.uid)"])
        activity(.app)
        return .relay(channel, AgentResponse())
    }

    private func exec(_ request: AgentRequest, caller: PeerCredentials) async throws -> Opening {
        guard let argv = request.argv, let program = argv.first, !program.isEmpty else {
            throw AgentError.badRequest("exec needs \"argv\": the program and its arguments")
        }
        let identity = try identity(for: request)
        activity(.exec)
        logger.info("exec: \(argv.joined(separator: " "))", metadata: [
            "caller_uid": "\(caller.uid)", "caller_pid": "\(caller.pid)", "tty": "\(request.tty == true)", "root": "\(identity.isRoot)",
        ])
        let session: any AgentSession
        let stop: @Sendable () -> Void
        if request.tty == true {
            let size = PseudoTerminal.clampedSize(cols: request.cols, rows: request.rows)
            let (terminal, first) = try await Terminal.start(
                name: "exec", argv: argv, command: argv.joined(separator: " "),
                environment: environment.terminalVariables(extra: request.env ?? [:], as: identity), directory: spec.projectDirectory,
                cols: size.cols, rows: size.rows, scrollbackBytes: spec.scrollbackBytes, credentials: identity.credentials,
                root: spec.container != nil ? identity.isRoot : nil, logger: logger)
            session = AttachSession(terminal: terminal, client: first.id, frames: first.frames, hangUpOnDetach: true)
            stop = { terminal.hangUp() }
        } else {
            let exec = try await ExecSession.start(
                argv: argv, environment: environment.variables(extra: request.env ?? [:], as: identity),
                directory: spec.projectDirectory, credentials: identity.credentials, logger: logger)
            session = exec
            stop = { exec.terminate() }
        }
        let id = execs.withLock { execs in
            execs.next += 1
            execs.stops[execs.next] = stop
            return execs.next
        }
        return .session(TrackedSession(inner: session, onEnd: { [weak self] in self?.execEnded(id) }), AgentResponse())
    }

    private func execEnded(_ id: Int) {
        execs.withLock { _ = $0.stops.removeValue(forKey: id) }
    }

    /// Logs a refused request and makes its answer.
    func reject(_ error: AgentError, caller: PeerCredentials, op: String?) -> AgentResponse {
        logger.error("refused request: \(error.message)", metadata: [
            "agent_op": "\(op ?? "-")", "caller_uid": "\(caller.uid)", "caller_pid": "\(caller.pid)", "error_code": "\(error.code)",
        ])
        return .failure(error)
    }

    /// Starts the apps.
    func start() {
        apps.start()
    }

    /// Stops everything the agent started: apps get SIGTERM, terminals are hung up, exec'd programs get SIGTERM.
    /// Waits up to `patience` for terminals and programs to end.
    func shutdown(patience: Duration = .seconds(3)) async {
        shuttingDown.store(true, ordering: .relaxed)
        await apps.stop()
        await terminals.hangUpAll()
        execs.withLock { $0.stops.values.map { $0 } }.forEach { $0() }
        let deadline = ContinuousClock.now + patience
        while ContinuousClock.now < deadline, !terminals.isEmpty || !execs.withLock({ $0.stops.isEmpty }) {
            try? await Task.sleep(for: .milliseconds(50))
        }
    }
}

/// A session that reports when its output has ended.
private struct TrackedSession: AgentSession {
    let inner: any AgentSession
    let onEnd: @Sendable () -> Void

    func pump(to connection: any Channel) async {
        await inner.pump(to: connection)
        onEnd()
    }

    func receive(_ frame: AgentFrame) async { await inner.receive(frame) }
    func clientGone() { inner.clientGone() }
}
