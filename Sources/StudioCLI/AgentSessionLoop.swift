#if canImport(Glibc)
import Glibc
#endif
import StudioCore

/// How a session on the agent ended.
enum SessionOutcome: Equatable {
    /// The program ended with this code.
    case exited(Int32)
    /// The user typed the detach sequence.
    case detached
    /// The agent closed the connection without an exit code.
    case disconnected
    /// A signal (or a closed stdout, as SIGPIPE) ended the session locally.
    case signalled(Int32)

    /// What studioctl exits with.
    var exitCode: Int32 {
        switch self {
        case .exited(let code): code
        case .detached: 0
        case .disconnected: 69
        case .signalled(let signal): 128 + signal
        }
    }
}

/// Copies stdin to the agent and the agent's output to stdout and stderr until the session ends; forwards window
/// size changes. One thread, one `poll`.
struct AgentSessionLoop {
    let client: AgentClient
    /// Watch typed input for Ctrl-\ d (attach from a terminal).
    var detachable = false
    /// Send the window size on SIGWINCH.
    var forwardsResize = false
    /// Stop reading stdin while this much input waits for the agent.
    static let inputBacklog = 256 * 1024

    func run() throws(AgentClientError) -> SessionOutcome {
        SignalPipe.install()
        signal(SIGPIPE, SIG_IGN)
        var filter = DetachKeyFilter()
        var stdinOpen = true
        for frame in try client.bufferedFrames() {
            if let outcome = handle(frame) { return outcome }
        }
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            try client.flushQueue()
            let readsInput = stdinOpen && client.canSend && client.queuedBytes < Self.inputBacklog
            var fds = [
                pollfd(fd: client.fd, events: Int16(POLLIN) | (client.queuedBytes > 0 ? Int16(POLLOUT) : 0), revents: 0),
                pollfd(fd: SignalPipe.readEnd, events: Int16(POLLIN), revents: 0),
                pollfd(fd: readsInput ? STDIN_FILENO : -1, events: Int16(POLLIN), revents: 0),
            ]
            if poll(&fds, nfds_t(fds.count), -1) < 0 {
                if errno == EINTR { continue }
                throw .failed("poll failed: \(String(cString: strerror(errno)))")
            }
            if fds[1].revents != 0 {
                for signalNumber in SignalPipe.drain() {
                    if signalNumber != SIGWINCH { return .signalled(signalNumber) }
                    if forwardsResize, let size = LocalTerminal.windowSize() {
                        client.enqueue(.resize(cols: size.cols, rows: size.rows))
                    }
                }
            }
            if fds[0].revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
                guard let frames = try client.readFrames() else { return .disconnected }
                for frame in frames {
                    if let outcome = handle(frame) { return outcome }
                }
            }
            if readsInput, fds[2].revents != 0 {
                let count = buffer.withUnsafeMutableBytes { read(STDIN_FILENO, $0.baseAddress, $0.count) }
                if count < 0, errno == EINTR || errno == EAGAIN { continue }
                guard count > 0 else {
                    stdinOpen = false
                    client.enqueue(.eof)
                    continue
                }
                let input = Array(buffer[..<count])
                if detachable {
                    let (send, detach) = filter.filter(input)
                    if !send.isEmpty { client.enqueue(.input(send)) }
                    if detach {
                        try client.flushQueue(wait: true)
                        return .detached
                    }
                } else {
                    client.enqueue(.input(input))
                }
            }
        }
    }

    /// Shows one frame; the outcome if it ends the session.
    private func handle(_ frame: AgentFrame) -> SessionOutcome? {
        switch frame {
        case .output(let bytes):
            if !Self.writeAll(STDOUT_FILENO, bytes) { return .signalled(SIGPIPE) }
        case .stderr(let bytes):
            _ = Self.writeAll(STDERR_FILENO, bytes)
        case .exit(let code):
            return .exited(code)
        case .error(let text):
            printError("studioctl: the agent says: \(text)")
        case .input, .resize, .eof:
            break
        }
        return nil
    }

    /// Writes everything, waiting out a full (non-blocking) terminal; false if the reader is gone.
    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN {
                    var entry = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                    _ = poll(&entry, 1, 1000)
                    continue
                }
                return false
            }
            offset += written
        }
        return true
    }
}
