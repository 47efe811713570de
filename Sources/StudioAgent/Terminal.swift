import Logging
import NIOCore
import NIOPosix
import StudioCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A process on a PTY that outlives its clients: output goes to a scrollback ring and to every attached client;
/// any client may type and resize. When the process ends, clients get its exit code and the terminal is gone.
///
/// Output is lossless: when a client falls more than ``highWater`` bytes behind, the terminal stops reading the PTY
/// (the program then blocks on write, as on a slow serial line) until every client has caught up.
final class Terminal: Sendable {
    let name: String
    let pid: pid_t
    /// What runs in it, for people.
    let command: String
    /// In a container: whether it runs as root (true) or as the owner (false); nil on the host. A terminal keeps
    /// the identity it was created with.
    let root: Bool?
    /// A duplicate of the master descriptor, for `TIOCSWINSZ`; closed once the terminal has ended.
    private let control: Int32
    private let state: Mutex<State>
    private let logger: Logger
    private let onEnd: @Sendable (Terminal) -> Void

    /// Bytes a client may lag before reading pauses, and the level at which it resumes.
    static let highWater = 1 << 20
    static let lowWater = 256 << 10
    /// How long output may keep arriving after the process ended before the PTY is hung up.
    static let drainTime = TimeAmount.milliseconds(500)

    private struct Client {
        var continuation: AsyncStream<AgentFrame>.Continuation
        /// Bytes yielded but not yet written to the client's socket.
        var pending: Int
    }

    private struct State {
        var scrollback: Scrollback
        var clients: [Int: Client] = [:]
        var nextClient = 0
        var cols: UInt16
        var rows: UInt16
        var channel: (any Channel)?
        var exitCode: Int32?
        var ptyClosed = false
        var finished = false
        var paused = false
    }

    private init(name: String, pid: pid_t, command: String, root: Bool?, control: Int32, size: (UInt16, UInt16), scrollbackBytes: Int, logger: Logger, onEnd: @escaping @Sendable (Terminal) -> Void) {
        self.name = name
        self.pid = pid
        self.command = command
        self.root = root
        self.control = control
        self.logger = logger
        self.onEnd = onEnd
        state = Mutex(State(scrollback: Scrollback(capacity: scrollbackBytes), cols: size.0, rows: size.1))
    }

    /// A client: its id and its stream of frames.
    typealias Attachment = (id: Int, frames: AsyncStream<AgentFrame>)

    /// Starts `argv` on a new PTY of the given size, with its first client already attached (so that a program that
    /// ends at once still shows its output to whoever started it). `credentials`: whom it runs as (a container's
    /// agent); the PTY then belongs to that uid, as a login's would. `root`: what ``info(created:)`` says.
    static func start(
        name: String, argv: [String], command: String, environment: [String: String], directory: String,
        cols: UInt16, rows: UInt16, scrollbackBytes: Int, credentials: ProcessSpawner.Credentials? = nil, root: Bool? = nil,
        logger: Logger, onEnd: @escaping @Sendable (Terminal) -> Void = { _ in }
    ) async throws -> (terminal: Terminal, first: Attachment) {
        let pty = try PseudoTerminal.open(cols: cols, rows: rows)
        let pid: pid_t
        do {
            if let credentials, credentials.uid != getuid() {
                // Programs that open their terminal by name (ttyname, ssh, sudo, write) need to own it.
                guard chown(pty.slavePath, credentials.uid, gid_t.max) == 0 else {
                    throw ProcessSpawner.Failure(program: "chown \(pty.slavePath)", errno: errno)
                }
            }
            pid = try ProcessSpawner.spawn(
                argv, environment: environment, directory: directory,
                stdio: [.open(pty.slavePath), .descriptor(0), .descriptor(0)], as: credentials)
        } catch {
            close(pty.master)
            throw error
        }
        let control = fcntl(pty.master, F_DUPFD_CLOEXEC, 3)
        var logger = logger
        logger[metadataKey: "terminal"] = "\(name)"
        logger[metadataKey: "terminal_pid"] = "\(pid)"
        let terminal = Terminal(
            name: name, pid: pid, command: command, root: root, control: control, size: (cols, rows),
            scrollbackBytes: scrollbackBytes, logger: logger, onEnd: onEnd)
        let first = terminal.attach()!
        do {
            let channel = try await NIOPipeBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .takingOwnershipOfDescriptor(inputOutput: pty.master) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(PTYReader(terminal: terminal))
                        return channel
                    }
                }
            terminal.state.withLock { $0.channel = channel }
        } catch {
            close(pty.master)
            ProcessSpawner.signalGroup(pid, SIGKILL)
            terminal.processExited(await ChildReaper.exitCode(of: pid))
            throw error
        }
        logger.info("terminal started: \(command)")
        Task { terminal.processExited(await ChildReaper.exitCode(of: pid)) }
        return (terminal, first)
    }

    /// Adds a client: its stream starts with the scrollback, then live output, and ends with `.exit`.
    /// Nil if the terminal has just ended.
    func attach() -> Attachment? {
        let (stream, continuation) = AsyncStream<AgentFrame>.makeStream()
        let id: Int? = state.withLock { state in
            guard !state.finished else { return nil }
            let id = state.nextClient
            state.nextClient += 1
            let replay = state.scrollback.contents
            if !replay.isEmpty { continuation.yield(.output(replay)) }
            state.clients[id] = Client(continuation: continuation, pending: replay.count)
            return id
        }
        guard let id else { return nil }
        continuation.onTermination = { [weak self] _ in self?.detach(id) }
        return (id, stream)
    }

    /// Removes a client; the terminal keeps running.
    func detach(_ id: Int) {
        let client = state.withLock { $0.clients.removeValue(forKey: id) }
        client?.continuation.finish()
        resumeIfCaughtUp()
    }

    /// A client wrote `count` bytes of its stream to its socket.
    func delivered(_ count: Int, to id: Int) {
        state.withLock { $0.clients[id]?.pending -= count }
        resumeIfCaughtUp()
    }

    /// Sends keystrokes (or pasted text) to the program.
    func write(_ bytes: [UInt8]) async {
        guard let channel = state.withLock({ $0.finished ? nil : $0.channel }) else { return }
        try? await channel.writeAndFlush(ByteBuffer(bytes: bytes)).get()
    }

    /// Changes the window size; the program gets SIGWINCH.
    func resize(cols: UInt16, rows: UInt16) {
        state.withLock { state in
            guard !state.finished, cols > 0, rows > 0 else { return }
            state.cols = cols
            state.rows = rows
            PseudoTerminal.setWindowSize(control, cols: cols, rows: rows)
        }
    }

    /// Hangs up: closes the PTY (the kernel sends SIGHUP to the session) and signals the process group.
    func hangUp() {
        let channel = state.withLock { $0.channel }
        channel?.close(promise: nil)
        ProcessSpawner.signalGroup(pid, SIGHUP)
    }

    /// Whether the terminal has ended.
    var hasEnded: Bool { state.withLock { $0.finished } }

    /// A description for `terminals` and `attach` answers.
    func info(created: Bool? = nil) -> TerminalInfo {
        state.withLock {
            TerminalInfo(name: name, pid: pid, command: command, clients: $0.clients.count, cols: Int($0.cols), rows: Int($0.rows), created: created, root: root)
        }
    }

    // MARK: Events

    /// Output from the PTY (on the channel's event loop).
    fileprivate func received(_ bytes: [UInt8]) {
        let pause: (any Channel)? = state.withLock { state in
            state.scrollback.append(bytes)
            var lagging = false
            for id in state.clients.keys {
                state.clients[id]!.continuation.yield(.output(bytes))
                state.clients[id]!.pending += bytes.count
                lagging = lagging || state.clients[id]!.pending > Self.highWater
            }
            guard lagging, !state.paused else { return nil }
            state.paused = true
            return state.channel
        }
        pause?.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
    }

    private func resumeIfCaughtUp() {
        let resume: (any Channel)? = state.withLock { state in
            guard state.paused, state.clients.values.allSatisfy({ $0.pending < Self.lowWater }) else { return nil }
            state.paused = false
            return state.channel
        }
        resume?.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
    }

    /// The PTY closed: every slave descriptor is gone, or the terminal was hung up.
    fileprivate func ptyClosed() {
        let exited = state.withLock { state in
            state.ptyClosed = true
            return state.exitCode != nil
        }
        if exited { finish() }
    }

    /// The process ended: read what is left in the PTY, then end.
    private func processExited(_ code: Int32) {
        let (closed, channel) = state.withLock { state in
            state.exitCode = code
            return (state.ptyClosed, state.channel)
        }
        if closed || channel == nil {
            finish()
        } else if let channel {
            // Background jobs may hold the PTY open; they do not keep a terminal whose process ended.
            channel.eventLoop.scheduleTask(in: Self.drainTime) { channel.close(promise: nil) }
        }
    }

    private func finish() {
        let ended: (clients: [Client], code: Int32)? = state.withLock { state in
            guard !state.finished else { return nil }
            state.finished = true
            defer { state.clients = [:] }
            return (Array(state.clients.values), state.exitCode ?? 255)
        }
        guard let ended else { return }
        close(control)
        for client in ended.clients {
            client.continuation.yield(.exit(ended.code))
            client.continuation.finish()
        }
        logger.info("terminal ended with exit code \(ended.code)", metadata: ["exit_code": "\(ended.code)"])
        onEnd(self)
    }
}

/// Feeds PTY output to its terminal.
private final class PTYReader: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let terminal: Terminal

    init(terminal: Terminal) {
        self.terminal = terminal
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        terminal.received(Array(buffer: unwrapInboundIn(data)))
    }

    /// Reading a master whose slave side is gone fails with EIO: that is the end of the terminal's output.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        terminal.ptyClosed()
        context.fireChannelInactive()
    }
}
