import NIOCore
import StudioCore

/// What runs on a connection after an `attach` or `exec` request was accepted.
protocol AgentSession: Sendable {
    /// Writes the session's frames to the client until the session ends (the last frame is `.exit`).
    func pump(to connection: any Channel) async
    /// Handles one frame from the client.
    func receive(_ frame: AgentFrame) async
    /// The client closed its connection (or its sending side).
    func clientGone()
}

extension Channel {
    /// Writes one frame and waits until it reached the socket; false if the connection is gone.
    func write(frame: AgentFrame) async -> Bool {
        do {
            try await writeAndFlush(ByteBuffer(bytes: frame.encoded)).get()
            return true
        } catch {
            return false
        }
    }
}

/// A client attached to a terminal. For `exec -t` the terminal is the client's own, and goes when it goes.
struct AttachSession: AgentSession {
    let terminal: Terminal
    let client: Int
    let frames: AsyncStream<AgentFrame>
    /// Hang the terminal up when the client leaves (`exec -t`), instead of keeping it.
    let hangUpOnDetach: Bool
    /// Where typing is recorded as activity (nil: not recorded).
    var activity: (@Sendable (ActivitySource) -> Void)? = nil

    func pump(to connection: any Channel) async {
        for await frame in frames {
            guard await connection.write(frame: frame) else { break }
            if case .output(let bytes) = frame { terminal.delivered(bytes.count, to: client) }
        }
    }

    func receive(_ frame: AgentFrame) async {
        switch frame {
        case .input(let bytes):
            activity?(.terminal)
            await terminal.write(bytes)
        case .resize(let cols, let rows): terminal.resize(cols: cols, rows: rows)
        // A terminal has no end of input; other frames are not the client's to send.
        case .eof, .output, .stderr, .exit, .error: break
        }
    }

    func clientGone() {
        terminal.detach(client)
        if hangUpOnDetach { terminal.hangUp() }
    }
}
