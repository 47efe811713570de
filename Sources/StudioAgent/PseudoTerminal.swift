import CPty
#if canImport(Glibc)
import Glibc
#endif

/// A pseudo-terminal pair: the agent keeps the master; the child opens the slave by path after `setsid`, which
/// makes it the child's controlling terminal.
struct PseudoTerminal {
    /// The master side, close-on-exec.
    let master: Int32
    /// `/dev/pts/N`.
    let slavePath: String

    /// Why a PTY could not be had.
    struct Failure: Error, CustomStringConvertible {
        var call: String
        var errno: Int32
        var description: String { "cannot allocate a terminal (\(call)): \(String(cString: strerror(errno)))" }
    }

    /// Allocates a PTY with the given window size.
    static func open(cols: UInt16, rows: UInt16) throws(Failure) -> PseudoTerminal {
        var name = [CChar](repeating: 0, count: 128)
        let master = cpty_open(&name, name.count)
        guard master >= 0 else { throw Failure(call: "posix_openpt", errno: -master) }
        let terminal = PseudoTerminal(master: master, slavePath: String(cString: name))
        setWindowSize(master, cols: cols, rows: rows)
        return terminal
    }

    /// Sets the window size on a master descriptor; the foreground process group gets SIGWINCH.
    @discardableResult
    static func setWindowSize(_ master: Int32, cols: UInt16, rows: UInt16) -> Bool {
        var size = winsize(ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0)
        return ioctl(master, UInt(TIOCSWINSZ), &size) == 0
    }

    /// Clamps a requested size to something a terminal can have; missing values get 80×24.
    static func clampedSize(cols: Int?, rows: Int?) -> (cols: UInt16, rows: UInt16) {
        (UInt16(clamping: max(1, min(cols ?? 80, 1000))), UInt16(clamping: max(1, min(rows ?? 24, 1000))))
    }
}
