/// The workspace agent's protocol, version 1 (documented in docs/agent-protocol.md).
///
/// A connection to `agent.sock` starts with one JSON line, an ``AgentRequest``. `terminals` and `apps` get one JSON
/// line back and the connection closes. `attach` and `exec` get one JSON line (an ``AgentResponse`` saying whether the
/// session started) and then both sides speak ``AgentFrame``s until the session ends. Who the caller is comes from
/// the kernel (SO_PEERCRED), never from the request.
public enum AgentProtocol {
    /// The protocol version this build speaks.
    public static let version = 1
    /// The largest request line the agent reads; a longer one is refused and the connection closed.
    public static let maxRequestBytes = 64 * 1024
    /// The largest frame payload either side accepts.
    public static let maxFramePayload = 1 << 20
    /// The terminal `attach` uses when none is named.
    public static let defaultTerminal = "main"
    /// The terminal `attach` with `root` uses when none is named (container workspaces).
    public static let rootTerminal = "root"

    /// Whether `name` may name a terminal: 1 to 64 of `[A-Za-z0-9._-]`, not starting with `.` or `-`.
    public static func isValidTerminalName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, bytes.count <= 64, first != UInt8(ascii: "."), first != UInt8(ascii: "-") else {
            return false
        }
        return bytes.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }
    }
}

/// The first line of every connection.
public struct AgentRequest: Codable, Sendable, Equatable {
    /// Protocol version the client speaks.
    public var v: Int
    /// `attach`, `exec`, `terminals` or `apps`.
    public var op: String
    /// `attach`: the terminal to attach to (created on first attach); default `main`.
    public var terminal: String?
    /// `exec`: the program and its arguments, run without a shell.
    public var argv: [String]?
    /// `attach` and `exec` with `tty`: the initial window width, in columns.
    public var cols: Int?
    /// `attach` and `exec` with `tty`: the initial window height, in rows.
    public var rows: Int?
    /// `exec`: run in a fresh PTY instead of pipes.
    public var tty: Bool?
    /// `exec`: extra environment on top of the workspace's.
    public var env: [String: String]?
    /// `app`: the app to connect to.
    public var app: String?
    /// `attach` and `exec` in a container workspace: as root inside the container (never root on the host). The
    /// host backend refuses it (`forbidden`).
    public var root: Bool?

    public init(
        op: String, terminal: String? = nil, argv: [String]? = nil, cols: Int? = nil, rows: Int? = nil,
        tty: Bool? = nil, env: [String: String]? = nil, app: String? = nil, root: Bool? = nil
    ) {
        self.v = AgentProtocol.version
        self.op = op
        self.terminal = terminal
        self.argv = argv
        self.cols = cols
        self.rows = rows
        self.tty = tty
        self.env = env
        self.app = app
        self.root = root
    }

    /// Attach to terminal `name`, creating it if needed.
    public static func attach(_ name: String = AgentProtocol.defaultTerminal, cols: Int? = nil, rows: Int? = nil, root: Bool = false) -> AgentRequest {
        AgentRequest(op: "attach", terminal: name, cols: cols, rows: rows, root: root ? true : nil)
    }

    /// Connect to app `name`: after the answer line the connection carries the app's bytes both ways.
    public static func app(_ name: String) -> AgentRequest { AgentRequest(op: "app", app: name) }

    /// Run `argv` in the project directory.
    public static func exec(_ argv: [String], tty: Bool = false, cols: Int? = nil, rows: Int? = nil, env: [String: String]? = nil, root: Bool = false) -> AgentRequest {
        AgentRequest(op: "exec", argv: argv, cols: cols, rows: rows, tty: tty, env: env, root: root ? true : nil)
    }
}

/// The agent's errors: `bad_request`, `forbidden`, `unsupported`, `not_found`, `spawn_failed` or `internal`.
public typealias AgentError = RequestError

extension RequestError {
    /// The program or shell could not be started.
    public static func spawnFailed(_ message: String) -> RequestError { .init(code: .spawnFailed, message: message) }
}

/// The answer line: `{"ok":true,…}` or `{"ok":false,"error":{…}}`.
public struct AgentResponse: Codable, Sendable, Equatable {
    /// Whether the request was accepted.
    public var ok: Bool
    /// Why not, when `ok` is false.
    public var error: AgentError?
    /// `attach`: the terminal attached to.
    public var terminal: TerminalInfo?
    /// `terminals`: every running terminal.
    public var terminals: [TerminalInfo]?
    /// `apps`: every app the agent supervises.
    public var apps: [AppStatus]?

    public init(ok: Bool = true, error: AgentError? = nil, terminal: TerminalInfo? = nil, terminals: [TerminalInfo]? = nil, apps: [AppStatus]? = nil) {
        self.ok = ok
        self.error = error
        self.terminal = terminal
        self.terminals = terminals
        self.apps = apps
    }

    /// A refusal.
    public static func failure(_ error: AgentError) -> AgentResponse { AgentResponse(ok: false, error: error) }
}

/// A terminal the agent holds.
public struct TerminalInfo: Codable, Sendable, Equatable {
    /// The name clients attach by.
    public var name: String
    /// The process running in it (the shell, or the terminal's command).
    public var pid: Int32
    /// What runs in it, for people.
    public var command: String
    /// Clients attached right now.
    public var clients: Int
    /// The window size, in columns and rows.
    public var cols: Int
    public var rows: Int
    /// Whether this attach created the terminal (only in `attach` answers).
    public var created: Bool?
    /// In a container workspace: whether the terminal runs as root inside (true) or as the owner (false). Absent
    /// on the host backend, where every terminal runs as the owner.
    public var root: Bool?

    public init(name: String, pid: Int32, command: String, clients: Int, cols: Int, rows: Int, created: Bool? = nil, root: Bool? = nil) {
        self.name = name
        self.pid = pid
        self.command = command
        self.clients = clients
        self.cols = cols
        self.rows = rows
        self.created = created
        self.root = root
    }
}

/// An app the agent keeps running.
public struct AppStatus: Codable, Sendable, Equatable {
    /// The app's name from the template.
    public var name: String
    /// The current process, if one runs.
    public var pid: Int32?
    /// Whether a process runs right now (false while waiting to restart).
    public var running: Bool
    /// How often it was restarted after exiting.
    public var restarts: Int
    /// The unix socket the app is asked to listen on (`$STUDIO_APP_SOCKET`).
    public var socket: String
    /// How the last run ended (exit code, or 128+signal).
    public var lastExitCode: Int32?

    public init(name: String, pid: Int32?, running: Bool, restarts: Int, socket: String, lastExitCode: Int32? = nil) {
        self.name = name
        self.pid = pid
        self.running = running
        self.restarts = restarts
        self.socket = socket
        self.lastExitCode = lastExitCode
    }
}

/// One binary frame of an `attach` or `exec` session: 1 byte type, 4 bytes big-endian payload length, payload.
public enum AgentFrame: Sendable, Equatable {
    /// Client → agent: bytes for the terminal or the program's stdin.
    case input([UInt8])
    /// Agent → client: terminal output, or the program's stdout.
    case output([UInt8])
    /// Agent → client: the program's stderr (`exec` without a tty).
    case stderr([UInt8])
    /// Client → agent: the window size changed.
    case resize(cols: UInt16, rows: UInt16)
    /// Agent → client: the process ended with this code (128+signal if killed); the last frame of a session.
    case exit(Int32)
    /// Either way: something went wrong, in words.
    case error(String)
    /// Client → agent: no more input (the program's stdin is closed).
    case eof

    /// The type byte of each frame.
    public enum Kind: UInt8, Sendable {
        case input = 1, output = 2, stderr = 3, resize = 4, exit = 5, error = 6, eof = 7
    }

    /// This frame's type.
    public var kind: Kind {
        switch self {
        case .input: .input
        case .output: .output
        case .stderr: .stderr
        case .resize: .resize
        case .exit: .exit
        case .error: .error
        case .eof: .eof
        }
    }

    /// The frame's wire form.
    public var encoded: [UInt8] {
        let payload: [UInt8]
        switch self {
        case .input(let bytes), .output(let bytes), .stderr(let bytes): payload = bytes
        case .resize(let cols, let rows): payload = Self.bigEndian(cols) + Self.bigEndian(rows)
        case .exit(let code): payload = Self.bigEndian(UInt32(bitPattern: code))
        case .error(let text): payload = Array(text.utf8)
        case .eof: payload = []
        }
        return [kind.rawValue] + Self.bigEndian(UInt32(payload.count)) + payload
    }

    static func bigEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        (0..<T.bitWidth / 8).reversed().map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) }
    }
}

/// Cuts a byte stream into ``AgentFrame``s; feed it bytes as they arrive.
public struct AgentFrameDecoder: Sendable {
    /// Why a stream cannot be decoded; the connection should be closed.
    public enum Failure: Error, Equatable, CustomStringConvertible {
        case unknownType(UInt8)
        case tooLarge(Int)
        case badPayload(AgentFrame.Kind)

        public var description: String {
            switch self {
            case .unknownType(let type): "unknown frame type \(type)"
            case .tooLarge(let length): "frame of \(length) bytes is larger than \(AgentProtocol.maxFramePayload)"
            case .badPayload(let kind): "malformed \(kind) frame"
            }
        }
    }

    private var buffer: [UInt8] = []
    private var start = 0

    public init() {}

    /// Adds received bytes.
    public mutating func feed<Bytes: Sequence<UInt8>>(_ bytes: Bytes) {
        if start > 0, start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        } else if start > 65536 {
            buffer.removeFirst(start)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next complete frame, or nil until more bytes arrive.
    public mutating func next() throws(Failure) -> AgentFrame? {
        guard buffer.count - start >= 5 else { return nil }
        guard let kind = AgentFrame.Kind(rawValue: buffer[start]) else { throw .unknownType(buffer[start]) }
        let length = Int(Self.uint32(buffer, at: start + 1))
        guard length <= AgentProtocol.maxFramePayload else { throw .tooLarge(length) }
        guard buffer.count - start - 5 >= length else { return nil }
        let payload = Array(buffer[(start + 5)..<(start + 5 + length)])
        start += 5 + length
        switch kind {
        case .input: return .input(payload)
        case .output: return .output(payload)
        case .stderr: return .stderr(payload)
        case .resize:
            guard length == 4 else { throw .badPayload(kind) }
            return .resize(cols: UInt16(payload[0]) << 8 | UInt16(payload[1]), rows: UInt16(payload[2]) << 8 | UInt16(payload[3]))
        case .exit:
            guard length == 4 else { throw .badPayload(kind) }
            return .exit(Int32(bitPattern: Self.uint32(payload, at: 0)))
        case .error: return .error(String(decoding: payload, as: UTF8.self))
        case .eof: return .eof
        }
    }

    static func uint32(_ bytes: [UInt8], at index: Int) -> UInt32 {
        bytes[index..<(index + 4)].reduce(0) { $0 << 8 | UInt32($1) }
    }
}
