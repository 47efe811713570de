import Foundation
import StudioCore
import Testing
@testable import StudioCLI

/// exec, apps, bad requests and the process's life, against a real `studio-sandbox agent` process.
@Suite struct AgentExecAndAppsTests {
    @Test func execStreamsStdoutAndStderrApartAndReturnsTheExitCode() throws {
        let agent = try AgentProcess()
        defer { agent.stop() }
        let client = try agent.connect()
        try client.open(.exec(["sh", "-c", "read line; echo out:$line; echo err:$X >&2; exit 7"], env: ["X": "x"]))
        try client.send(.input(Array("typed\n".utf8)))
        try client.send(.eof)
        var stdout: [UInt8] = [], stderr: [UInt8] = []
        var code: Int32?
        while code == nil, let frame = try client.nextFrame(timeoutMilliseconds: 10_000) {
            switch frame {
            case .output(let bytes): stdout += bytes
            case .stderr(let bytes): stderr += bytes
            case .exit(let exit): code = exit
            default: break
            }
        }
        #expect(String(decoding: stdout, as: UTF8.self) == "out:typed\n")
        #expect(String(decoding: stderr, as: UTF8.self) == "err:x\n")
        #expect(code == 7)
    }

    @Test func execReportsSignalsAndMissingPrograms() throws {
        let agent = try AgentProcess()
        defer { agent.stop() }
        let killed = try agent.connect()
        try killed.open(.exec(["sh", "-c", "kill -TERM $$"]))
        #expect(try killed.output().exit == 128 + SIGTERM)

        let missing = try agent.connect()
        #expect(throws: AgentClientError.self) { try missing.open(.exec(["no-such-program-here"])) }
    }

    @Test func anAppThatExitsIsRestarted() throws {
        let agent = try AgentProcess(apps: [AppSpec(name: "web", command: "echo $STUDIO_APP_SOCKET >> app-socket; exit 1")])
        defer { agent.stop() }
        let record = "\(agent.spec.projectDirectory)/app-socket"
        try waitUntil("the app was started twice") {
            ((try? String(contentsOfFile: record, encoding: .utf8)) ?? "").split(separator: "\n").count >= 2
        }
        let app = try #require(try agent.ask(AgentRequest(op: "apps")).apps?.first)
        #expect(app.name == "web")
        #expect(app.restarts >= 1)
        #expect(app.socket == "\(agent.directory)/apps/web.sock")
        #expect(app.lastExitCode == 1)
        let lines = try String(contentsOfFile: record, encoding: .utf8).split(separator: "\n")
        #expect(lines.prefix(2) == ["\(agent.directory)/apps/web.sock", "\(agent.directory)/apps/web.sock"], "its socket is in its environment")
        #expect(agent.logText.contains("app web exited with code 1"))
    }

    @Test func badRequestsGetAnErrorAndTheAgentKeepsServing() throws {
        let agent = try AgentProcess()
        defer { agent.stop() }
        let lines = ["garbage", "{}", #"{"v":2,"op":"apps"}"#, #"{"v":1,"op":"format-disk"}"#, #"{"v":1,"op":"exec"}"#, #"{"v":1,"op":"attach","terminal":"../x"}"#]
        for line in lines {
            let socket = try UnixSocket(path: agent.spec.socketPath)
            try socket.write(Array((line + "\n").utf8))
            let answer = try #require(try socket.readLine())
            let response = try JSONDecoder().decode(AgentResponse.self, from: Data(answer))
            #expect(response.ok == false, "\(line)")
            #expect([ErrorCode.badRequest, .unsupported].contains(response.error?.code), "\(line)")
        }
        // A request line that never ends is cut off at the limit.
        let flood = try UnixSocket(path: agent.spec.socketPath)
        try? flood.write([UInt8](repeating: UInt8(ascii: "x"), count: AgentProtocol.maxRequestBytes + 10))
        let answer = try #require(try flood.readLine())
        #expect(String(decoding: answer, as: UTF8.self).contains("longer than"))
        // A session that sends a broken frame gets an error frame and is closed.
        let broken = try agent.connect()
        try broken.open(.attach())
        try broken.send(.input([]))
        let brokenBytes: [UInt8] = [42, 0, 0, 0, 0]
        try UnixSocketWriter(fd: broken.fd).write(brokenBytes)
        var sawError = false
        while let frame = try broken.nextFrame(timeoutMilliseconds: 10_000) {
            if case .error = frame { sawError = true }
        }
        #expect(sawError)
        // Still serving.
        #expect(try agent.ask(AgentRequest(op: "apps")).ok)
    }

    @Test func readyOnTheSocketWithMode0600AndSigtermEndsTerminals() throws {
        let notify = try NotifyListener()
        let agent = try AgentProcess(notifySocket: notify.path)
        var info = stat()
        #expect(stat(agent.spec.socketPath, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600, "the owner's alone")
        let messages = try notify.receive(seconds: 10)
        #expect(messages.contains("READY=1"))

        let client = try agent.connect()
        let pid = try #require(try client.open(.attach()).terminal?.pid)
        #expect(agent.stop() == 0)
        #expect(try client.output().exit != nil, "the client hears that the terminal ended")
        try waitUntil("the shell is gone") { kill(pid, 0) != 0 }
    }

    @Test func studioctlExecAndShellUseTheAgent() throws {
        let agent = try AgentProcess()
        defer { agent.stop() }
        let studioctl = try BuiltPrograms.path("studioctl")
        let exec = try runProgram(studioctl, ["exec", "demo", "--agent-socket", agent.spec.socketPath, "--", "sh", "-c", "cat; echo oops >&2; exit 7"], input: "piped\n")
        #expect(exec.status == 7)
        #expect(exec.stdout == "piped\n")
        #expect(exec.stderr == "oops\n")

        let shell = try runProgram(studioctl, ["shell", "demo", "--agent-socket", agent.spec.socketPath, "--terminal", "t"], input: "echo from-the-pipe\nexit 3\n")
        #expect(shell.status == 3)
        #expect(shell.stdout.contains("from-the-pipe"))

        let stopped = try runProgram(studioctl, ["exec", "demo", "--agent-socket", "\(agent.directory)/nothing.sock", "--", "true"])
        #expect(stopped.status == 69)
        #expect(stopped.stderr.contains("workspace \"demo\" is not running; studioctl start demo starts it"))
    }
}

/// Writes raw bytes to a connected descriptor (for sending what AgentClient would never send).
struct UnixSocketWriter {
    let fd: Int32
    func write(_ bytes: [UInt8]) throws {
        let written = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        try #require(written == bytes.count)
    }
}

/// A stand-in for systemd's notification socket.
final class NotifyListener {
    let path: String
    let fd: Int32

    init() throws {
        path = "/tmp/studio-notify-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(bound == 0)
    }

    /// The assignments of the first datagram.
    func receive(seconds: Int32) throws -> [String] {
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        try #require(poll(&entry, 1, seconds * 1000) == 1, "no notification within \(seconds) s")
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return String(decoding: buffer[..<max(0, count)], as: UTF8.self).split(separator: "\n").map(String.init)
    }

    deinit {
        close(fd)
        unlink(path)
    }
}
