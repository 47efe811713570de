import Logging
import NIOCore
import NIOPosix
import StudioCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A program run with pipes (`exec` without a tty): stdin from `input` frames until `eof`, stdout and stderr as
/// `output` and `stderr` frames, then its exit code. Reading follows the client's pace (no output is dropped).
final class ExecSession: AgentSession {
    let pid: pid_t
    private let stdin: any Channel
    private let stdout: NIOAsyncChannel<ByteBuffer, Never>
    private let stderr: NIOAsyncChannel<ByteBuffer, Never>
    private let exit: Task<Int32, Never>
    /// Set as soon as the program was reaped, so that its pid is never signalled after it may be reused.
    private let reaped: ReapedFlag
    private let logger: Logger

    /// How long a program's descendants may keep stdout or stderr open after it ended.
    static let drainTime = TimeAmount.seconds(1)
    /// How long after SIGHUP a program left behind by its client gets SIGKILL.
    static let killDelay = TimeAmount.seconds(5)

    private init(pid: pid_t, stdin: any Channel, stdout: NIOAsyncChannel<ByteBuffer, Never>, stderr: NIOAsyncChannel<ByteBuffer, Never>, logger: Logger) {
        self.pid = pid
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.logger = logger
        let reaped = ReapedFlag()
        self.reaped = reaped
        exit = Task { await ChildReaper.exitCode(of: pid, onReaped: reaped.set) }
    }

    /// Starts `argv` with three pipes, as `credentials` if given (a container's agent).
    static func start(
        argv: [String], environment: [String: String], directory: String, credentials: ProcessSpawner.Credentials? = nil, logger: Logger
    ) async throws -> ExecSession {
        let input = try ProcessSpawner.pipe()
        let output: (read: Int32, write: Int32)
        let errors: (read: Int32, write: Int32)
        do {
            output = try ProcessSpawner.pipe()
        } catch {
            [input.read, input.write].forEach { _ = close($0) }
            throw error
        }
        do {
            errors = try ProcessSpawner.pipe()
        } catch {
            [input.read, input.write, output.read, output.write].forEach { _ = close($0) }
            throw error
        }
        let pid: pid_t
        do {
            pid = try ProcessSpawner.spawn(
                argv, environment: environment, directory: directory,
                stdio: [.descriptor(input.read), .descriptor(output.write), .descriptor(errors.write)], as: credentials)
        } catch {
            [input.read, input.write, output.read, output.write, errors.read, errors.write].forEach { _ = close($0) }
            throw error
        }
        // The child has its copies; ours of its ends would keep the pipes from ever reaching end of file.
        [input.read, output.write, errors.write].forEach { _ = close($0) }

        let bootstrap = NIOPipeBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        let reader: @Sendable (any Channel) -> EventLoopFuture<NIOAsyncChannel<ByteBuffer, Never>> = { channel in
            channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel(wrappingChannelSynchronously: channel) }
        }
        do {
            let stdin = try await bootstrap.takingOwnershipOfDescriptor(output: input.write) { channel in
                channel.eventLoop.makeSucceededFuture(channel)
            }
            let stdout = try await bootstrap.takingOwnershipOfDescriptor(input: output.read, channelInitializer: reader)
            let stderr = try await bootstrap.takingOwnershipOfDescriptor(input: errors.read, channelInitializer: reader)
            return ExecSession(pid: pid, stdin: stdin, stdout: stdout, stderr: stderr, logger: logger)
        } catch {
            // Descriptors NIO did not take are leaked here; this only happens when the event loop is shutting down.
            ProcessSpawner.signalGroup(pid, SIGKILL)
            _ = await ChildReaper.exitCode(of: pid)
            throw error
        }
    }

    func pump(to connection: any Channel) async {
        await withDiscardingTaskGroup { group in
            group.addTask { await Self.copy(self.stdout, to: connection, as: AgentFrame.output) }
            group.addTask { await Self.copy(self.stderr, to: connection, as: AgentFrame.stderr) }
            group.addTask {
                _ = await self.exit.value
                // Descendants may hold the pipes open; they do not hold the session.
                for channel in [self.stdout.channel, self.stderr.channel] {
                    channel.eventLoop.scheduleTask(in: Self.drainTime) { channel.close(promise: nil) }
                }
            }
        }
        let code = await exit.value
        logger.info("exec ended with exit code \(code)", metadata: ["exec_pid": "\(pid)", "exit_code": "\(code)"])
        _ = await connection.write(frame: .exit(code))
    }

    private static func copy(_ pipe: NIOAsyncChannel<ByteBuffer, Never>, to connection: any Channel, as frame: @Sendable ([UInt8]) -> AgentFrame) async {
        do {
            try await pipe.executeThenClose { inbound in
                for try await buffer in inbound {
                    guard await connection.write(frame: frame(Array(buffer: buffer))) else { break }
                }
            }
        } catch {
            // A read error ends this stream; the exit code still goes out.
        }
    }

    func receive(_ frame: AgentFrame) async {
        switch frame {
        case .input(let bytes):
            // A program that does not read its stdin makes this fail (EPIPE); that is its business.
            try? await stdin.writeAndFlush(ByteBuffer(bytes: bytes)).get()
        case .eof:
            stdin.close(promise: nil)
        case .resize, .output, .stderr, .exit, .error:
            break
        }
    }

    /// The client left: hang up the program as a closed ssh session would, and kill it if it does not go.
    func clientGone() {
        stdin.close(promise: nil)
        guard !reaped.isSet else { return }
        ProcessSpawner.signalGroup(pid, SIGHUP)
        let pid = self.pid, reaped = self.reaped
        stdin.eventLoop.scheduleTask(in: Self.killDelay) {
            if !reaped.isSet { ProcessSpawner.signalGroup(pid, SIGKILL) }
        }
    }

    /// Asks the program to stop (agent shutdown).
    func terminate() {
        if !reaped.isSet { ProcessSpawner.signalGroup(pid, SIGTERM) }
    }
}

/// A flag set once, from any thread.
final class ReapedFlag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}
