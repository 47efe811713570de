import Foundation
import StudioCore
import Testing
@testable import StudioCLI

/// The built programs next to the test bundle (`swift test` builds them with the tests).
enum BuiltPrograms {
    static var directory: String {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        // …/debug/studioPackageTests.xctest, or …/debug/studioPackageTests.xctest/… on other layouts.
        var url = URL(fileURLWithPath: executable).deletingLastPathComponent()
        while !url.path.hasSuffix("/debug") && !url.path.hasSuffix("/release") && url.path != "/" {
            url.deleteLastPathComponent()
        }
        return url.path
    }

    static func path(_ name: String) throws -> String {
        let path = "\(directory)/\(name)"
        try #require(FileManager.default.isExecutableFile(atPath: path), "\(path) is not built; run `swift build` first")
        return path
    }
}

/// A `studio-agent` process with its own temporary runtime and project directories.
final class AgentProcess: @unchecked Sendable {
    let directory: String
    let spec: AgentSpec
    let process: Process
    let log: String

    /// The current user, as the workspace owner.
    static func owner() -> (name: String, uid: UInt32) {
        let entry = getpwuid(getuid())!.pointee
        return (String(cString: entry.pw_name), entry.pw_uid)
    }

    /// Writes a spec and starts the agent; returns once its socket accepts connections.
    init(
        apps: [AppSpec] = [], terminals: [TerminalSpec] = [], scrollbackBytes: Int = 64 * 1024,
        environment: [String: String] = ["STUDIO_TEST": "yes"], notifySocket: String? = nil
    ) throws {
        var template = Array("/tmp/studio-agent-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        try #require(made != nil, "mkdtemp failed")
        directory = String(cString: template)
        let project = "\(directory)/project"
        try FileManager.default.createDirectory(atPath: project, withIntermediateDirectories: true)
        let owner = Self.owner()
        spec = AgentSpec(
            workspace: WorkspaceIdentity(owner: owner.name, uid: owner.uid, name: try WorkspaceName("demo")),
            projectDirectory: project, socketPath: "\(directory)/agent.sock", shell: "/bin/sh",
            environment: environment, apps: apps, terminals: terminals, scrollbackBytes: scrollbackBytes)
        let specPath = "\(directory)/agent.json"
        try JSONEncoder().encode(spec).write(to: URL(fileURLWithPath: specPath))
        log = "\(directory)/agent.log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        process = Process()
        process.executableURL = URL(fileURLWithPath: try BuiltPrograms.path("studio-agent"))
        process.arguments = ["--spec", specPath]
        var environment = ProcessInfo.processInfo.environment
        environment["NOTIFY_SOCKET"] = notifySocket
        process.environment = environment
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try waitUntil("the agent listens on \(spec.socketPath)") { (try? self.connect()) != nil }
    }

    /// A new connection to the agent.
    func connect() throws -> AgentClient {
        try AgentClient(workspace: spec.workspace, socketPath: spec.socketPath)
    }

    /// Sends one request and returns the answer line (for `terminals` and `apps`).
    func ask(_ request: AgentRequest) throws -> AgentResponse {
        try connect().open(request)
    }

    /// SIGTERM, then waits (SIGKILL after 10 s); returns the exit status.
    @discardableResult
    func stop() -> Int32 {
        if process.isRunning { process.terminate() }
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// What the agent logged.
    var logText: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Polls `condition` every 20 ms until it holds; fails the test after `seconds`.
func waitUntil(_ what: String, seconds: Double = 10, _ condition: () throws -> Bool) throws {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return }
        usleep(20_000)
    }
    Issue.record("timed out after \(seconds) s waiting until \(what)")
    throw TimedOut()
}

struct TimedOut: Error {}

extension AgentClient {
    /// Collects output frames until `done` holds for the text so far (or an exit frame comes); fails after
    /// `seconds`. Returns the text and the exit code, if one came.
    func output(seconds: Double = 10, until done: (String) -> Bool = { _ in false }) throws -> (text: String, exit: Int32?) {
        var text: [UInt8] = []
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else {
                Issue.record("timed out after \(seconds) s; output so far: \(String(decoding: text, as: UTF8.self))")
                throw TimedOut()
            }
            guard let frame = try nextFrame(timeoutMilliseconds: Int32(left * 1000)) else {
                if deadline.timeIntervalSinceNow > 0 { return (String(decoding: text, as: UTF8.self), nil) }
                continue
            }
            switch frame {
            case .output(let bytes), .stderr(let bytes): text += bytes
            case .exit(let code): return (String(decoding: text, as: UTF8.self), code)
            default: break
            }
            if done(String(decoding: text, as: UTF8.self)) { return (String(decoding: text, as: UTF8.self), nil) }
        }
    }
}

/// Runs a built program to its end; returns its exit status, stdout and stderr.
func runProgram(_ path: String, _ arguments: [String], input: String? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let stdout = Pipe(), stderr = Pipe(), stdin = Pipe()
    process.standardOutput = stdout
    process.standardError = stderr
    process.standardInput = input == nil ? FileHandle.nullDevice : stdin
    try process.run()
    if let input {
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try stdin.fileHandleForWriting.close()
    }
    let out = stdout.fileHandleForReading.readDataToEndOfFile()
    let err = stderr.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
}
