#if canImport(Glibc)
import Glibc
#endif

/// The local terminal while a session runs: raw mode (restored on every way out), its window size, and the
/// signals that matter, delivered through a pipe so that the poll loop sees them.
final class LocalTerminal {
    /// The terminal's settings before raw mode, if we changed them.
    private var saved: termios?
    private let fd: Int32

    /// `fd`'s terminal, if it is one.
    init(fd: Int32 = STDIN_FILENO) {
        self.fd = fd
    }

    var isTerminal: Bool { isatty(fd) == 1 }

    /// Raw mode: keys go through as typed (Ctrl-C, Ctrl-Z and Ctrl-\ included), no local echo.
    func enterRawMode() {
        guard isTerminal, saved == nil else { return }
        var settings = termios()
        guard tcgetattr(fd, &settings) == 0 else { return }
        saved = settings
        cfmakeraw(&settings)
        tcsetattr(fd, TCSAFLUSH, &settings)
    }

    /// Puts the settings back as they were; safe to call more than once.
    func restore() {
        guard var settings = saved else { return }
        tcsetattr(fd, TCSADRAIN, &settings)
        saved = nil
    }

    deinit { restore() }

    /// The window size of whichever of stdin, stdout or stderr is a terminal.
    static func windowSize() -> (cols: UInt16, rows: UInt16)? {
        for fd in [STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO] {
            var size = winsize()
            if ioctl(fd, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0, size.ws_row > 0 {
                return (size.ws_col, size.ws_row)
            }
        }
        return nil
    }
}

/// Where the signal handlers write; set before any handler is installed.
nonisolated(unsafe) private var signalPipeWriteEnd: Int32 = -1

/// SIGWINCH, SIGTERM, SIGINT, SIGHUP and SIGQUIT as bytes on a pipe, for a poll loop.
enum SignalPipe {
    /// The read end; each byte is a signal number.
    nonisolated(unsafe) private(set) static var readEnd: Int32 = -1

    /// The signals a session watches.
    static let watched: [Int32] = [SIGWINCH, SIGTERM, SIGINT, SIGHUP, SIGQUIT]

    /// Installs the handlers (once).
    static func install() {
        guard readEnd < 0 else { return }
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { return }
        for fd in fds {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, O_NONBLOCK)
        }
        signalPipeWriteEnd = fds[1]
        readEnd = fds[0]
        for signalNumber in watched {
            signal(signalNumber) { number in
                var byte = UInt8(truncatingIfNeeded: number)
                let saved = errno
                _ = write(signalPipeWriteEnd, &byte, 1)
                errno = saved
            }
        }
    }

    /// Signals received since the last call.
    static func drain() -> [Int32] {
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = buffer.withUnsafeMutableBytes { read(readEnd, $0.baseAddress, $0.count) }
        return count > 0 ? buffer[..<count].map { Int32($0) } : []
    }
}

/// Spots the detach sequence, Ctrl-\ then `d`, in typed input. Ctrl-\ twice sends one Ctrl-\; Ctrl-\ then any
/// other key sends both.
struct DetachKeyFilter {
    /// Ctrl-\.
    static let prefix: UInt8 = 0x1c
    static let detachKey = UInt8(ascii: "d")

    private var sawPrefix = false

    /// The bytes to send on, and whether the user asked to detach (the bytes before the sequence still go).
    mutating func filter(_ input: [UInt8]) -> (send: [UInt8], detach: Bool) {
        var out: [UInt8] = []
        out.reserveCapacity(input.count)
        for byte in input {
            if sawPrefix {
                sawPrefix = false
                switch byte {
                case Self.detachKey: return (out, true)
                case Self.prefix: out.append(Self.prefix)
                default: out += [Self.prefix, byte]
                }
            } else if byte == Self.prefix {
                sawPrefix = true
            } else {
                out.append(byte)
            }
        }
        return (out, false)
    }
}
