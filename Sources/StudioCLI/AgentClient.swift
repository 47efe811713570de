#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ArgumentParser
import StudioCore
#if canImport(Glibc)
import Glibc
#endif

/// Why talking to a workspace's agent failed, worded for the person at the keyboard.
enum AgentClientError: Error, CustomStringConvertible {
    /// No agent listens: the workspace is stopped (or never started).
    case notRunning(WorkspaceIdentity)
    /// The socket or the agent refused us.
    case forbidden(WorkspaceIdentity)
    /// The agent refused the request.
    case refused(AgentError)
    /// Anything else: the socket failed, or the agent spoke nonsense.
    case failed(String)

    var description: String {
        switch self {
        case .notRunning(let workspace):
            "workspace \"\(Self.mention(workspace))\" is not running; studioctl start \(Self.mention(workspace)) starts it"
        case .forbidden(let workspace):
            "you may not use \(workspace.owner)'s workspace \"\(workspace.name)\""
        case .refused(let error):
            error.message
        case .failed(let text):
            text
        }
    }

    /// sysexits: 69 unavailable, 77 no permission, 76 protocol error, 1 otherwise.
    var exitCode: ExitCode {
        switch self {
        case .notRunning: ExitCode(69)
        case .forbidden: ExitCode(77)
        case .refused(let error): ExitCode(error.code.exitCode)
        case .failed: ExitCode(76)
        }
    }

    /// `x` for your own workspace, `alice/x` for someone else's.
    static func mention(_ workspace: WorkspaceIdentity) -> String {
        workspace.uid == getuid() ? workspace.name.rawValue : workspace.displayName
    }
}

/// A blocking connection to a workspace's agent (`agent.sock`): one request line, one answer line, then for
/// `attach` and `exec` the binary frames of docs/agent-protocol.md.
final class AgentClient {
    let workspace: WorkspaceIdentity
    /// The connected socket; poll it for frames.
    let fd: Int32
    private var decoder = AgentFrameDecoder()
    private var pending: [UInt8] = []
    /// Frames queued by ``enqueue(_:)`` and not yet taken by the socket.
    private var outgoing: [UInt8] = []
    private var outgoingStart = 0
    /// False once the agent stopped reading (it closed the connection after the session ended); what is still
    /// queued is dropped, and the frames it sent before closing can still be read.
    private(set) var canSend = true

    /// Connects to the workspace's agent (at `socketPath`, or the workspace's usual socket).
    init(workspace: WorkspaceIdentity, socketPath: String? = nil) throws(AgentClientError) {
        self.workspace = workspace
        // Only a connected socket becomes `fd`: deinit closes it, and a failed init must not close it twice.
        fd = try Self.connect(to: socketPath ?? workspace.agentSocket, workspace: workspace)
    }

    private static func connect(to path: String, workspace: WorkspaceIdentity) throws(AgentClientError) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .failed("cannot create a socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(fd)
            throw .failed("\(path): the socket path is too long")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else {
            let error = errno
            close(fd)
            switch error {
            case ENOENT, ECONNREFUSED, ENOTDIR: throw .notRunning(workspace)
            case EACCES, EPERM: throw .forbidden(workspace)
            default: throw .failed("cannot connect to \(path): \(String(cString: strerror(error)))")
            }
        }
        return fd
    }

    deinit { close(fd) }

    /// Sends `request` and reads the answer line; a refusal is thrown.
    @discardableResult
    func open(_ request: AgentRequest) throws(AgentClientError) -> AgentResponse {
        let encoded: [UInt8]
        do {
            encoded = try Array(JSONEncoder().encode(request)) + [UInt8(ascii: "\n")]
        } catch {
            throw .failed("cannot encode the request: \(error)")
        }
        try write(encoded)
        var line: [UInt8] = []
        while true {
            if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                line = Array(pending[..<newline])
                decoder.feed(pending[(newline + 1)...])
                pending = []
                break
            }
            guard let chunk = try receive(), pending.count <= AgentProtocol.maxRequestBytes else {
                throw .failed("the agent of \(workspace.displayName) closed the connection without answering; see `journalctl -u \(workspace.unitName)`")
            }
            pending += chunk
        }
        let response: AgentResponse
        do {
            response = try JSONDecoder().decode(AgentResponse.self, from: Data(line))
        } catch {
            throw .failed("the agent answered something this studioctl does not understand: \(String(decoding: line.prefix(200), as: UTF8.self))")
        }
        if let error = response.error {
            // A refused root request says why in the agent's words (a host workspace); other refusals are about
            // who may use the workspace at all.
            if error.code == .forbidden, request.root != true { throw .forbidden(workspace) }
            throw .refused(error)
        }
        guard response.ok else { throw .failed("the agent said no without saying why") }
        return response
    }

    /// Sends one frame, waiting until the socket took it (and everything queued before it).
    func send(_ frame: AgentFrame) throws(AgentClientError) {
        enqueue(frame)
        try flushQueue(wait: true)
    }

    /// Queues one frame; ``flushQueue(wait:)`` sends it. A session loop queues rather than blocks, so that it keeps
    /// reading output while the agent cannot take more input (a program that reads only after writing).
    func enqueue(_ frame: AgentFrame) {
        if canSend { outgoing += frame.encoded }
    }

    /// Bytes queued and not yet sent.
    var queuedBytes: Int { outgoing.count - outgoingStart }

    /// Sends what the socket takes now (or, with `wait`, everything).
    func flushQueue(wait: Bool = false) throws(AgentClientError) {
        while outgoingStart < outgoing.count {
            let written = outgoing[outgoingStart...].withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT))
            }
            if written < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK {
                    guard wait else { return }
                    var entry = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                    _ = poll(&entry, 1, -1)
                    continue
                }
                if errno == EPIPE || errno == ECONNRESET {
                    canSend = false
                    break
                }
                throw .failed("the connection to the agent of \(workspace.displayName) broke: \(String(cString: strerror(errno)))")
            }
            outgoingStart += written
        }
        outgoing.removeAll(keepingCapacity: true)
        outgoingStart = 0
    }

    /// The next frame: waits up to `timeoutMilliseconds` (-1: forever) for it; nil at end of stream or on timeout.
    func nextFrame(timeoutMilliseconds: Int32 = -1) throws(AgentClientError) -> AgentFrame? {
        while true {
            if let frame = try decodeNext() { return frame }
            if timeoutMilliseconds >= 0 {
                var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let ready = poll(&entry, 1, timeoutMilliseconds)
                if ready == 0 { return nil }
            }
            guard let chunk = try receive() else { return nil }
            decoder.feed(chunk)
        }
    }

    /// Frames already received and decodable, without waiting.
    func bufferedFrames() throws(AgentClientError) -> [AgentFrame] {
        var frames: [AgentFrame] = []
        while let frame = try decodeNext() { frames.append(frame) }
        return frames
    }

    /// Reads what the socket has (call when poll says it is readable) and returns the frames it completes; nil at
    /// end of stream.
    func readFrames() throws(AgentClientError) -> [AgentFrame]? {
        guard let chunk = try receive() else { return nil }
        decoder.feed(chunk)
        return try bufferedFrames()
    }

    private func decodeNext() throws(AgentClientError) -> AgentFrame? {
        do {
            return try decoder.next()
        } catch {
            throw .failed("the agent sent a malformed frame: \(error)")
        }
    }

    private func write(_ bytes: [UInt8]) throws(AgentClientError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written < 0 {
                if errno == EINTR { continue }
                throw .failed("the connection to the agent of \(workspace.displayName) broke: \(String(cString: strerror(errno)))")
            }
            offset += written
        }
    }

    /// One read; nil at end of stream.
    private func receive() throws(AgentClientError) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 { return Array(buffer[..<count]) }
            if count == 0 { return nil }
            if errno == EINTR { continue }
            if errno == ECONNRESET { return nil }
            throw .failed("the connection to the agent of \(workspace.displayName) broke: \(String(cString: strerror(errno)))")
        }
    }
}
