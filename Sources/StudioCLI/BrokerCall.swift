import ArgumentParser
import StudioClient
import StudioCore

/// Calls the broker for a command and turns every failure into a message on stderr and an exit code.
///
/// Exit codes (also in studioctl(1)): 0 success; 64 bad usage; 65 bad input (name, directory, limit, template);
/// 66 no such workspace or user; 69 a daemon cannot be reached; 70 internal error; 71 systemd refused; 75 conflict
/// (already exists, not running) or busy (too many connections or log followers; retry later); 76 unexpected answer; 77 permission denied; 78 broken configuration.
struct BrokerCall {
    let sockets: SocketOptions

    /// The shared async client (StudioClient), the same one studiod uses.
    var broker: BrokerConnection { BrokerConnection(socketPath: sockets.brokerSocket) }

    func callAndExit<Params: Codable & Sendable, Result: Codable & Sendable>(
        _ op: BrokerOperation, _ params: Params, as type: Result.Type
    ) async throws -> Result {
        try await exitOnFailure { try await broker.call(op, params, as: type) }
    }

    /// A streaming request (`logs`): `body` gets each decoded line until it returns false or the stream ends.
    func stream<Params: Codable & Sendable, Line: Codable & Sendable>(
        _ op: BrokerOperation, _ params: Params, as: Line.Type, _ body: (Line) async throws -> Bool
    ) async throws {
        try await exitOnFailure { try await broker.stream(op, params, as: Line.self, body) }
    }

    func exitOnFailure<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let exit as ExitCode {
            throw exit
        } catch let error as BrokerError {
            printError("studioctl: \(error.message)")
            throw Self.exitCode(for: error.code)
        } catch {
            printError("studioctl: the broker's answer was not understood: \(error)")
            throw ExitCodes.protocolError
        }
    }

    static func exitCode(for code: ErrorCode) -> ExitCode { ExitCode(code.exitCode) }
}

/// Options that name a workspace and the sockets to reach Studio on.
struct WorkspaceArguments: ParsableArguments {
    @Argument(help: ArgumentHelp("The workspace: NAME, or OWNER/NAME (root).", valueName: "name"))
    var workspace: WorkspaceReference

    @OptionGroup var sockets: SocketOptions

    func target() throws -> WorkspaceTarget { try workspace.target() }
}

/// `--memory`, `--cpus`, `--tasks`: limits a user may ask for, up to the administrator's ceilings.
struct LimitOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Memory limit (MemoryMax), e.g. 2G or 512M.", valueName: "size"))
    var memory: String?

    @Option(help: ArgumentHelp("CPU limit in CPUs (CPUQuota), e.g. 1.5.", valueName: "n"))
    var cpus: Double?

    @Option(help: ArgumentHelp("Limit on processes and threads (TasksMax).", valueName: "n"))
    var tasks: UInt64?

    var isEmpty: Bool { memory == nil && cpus == nil && tasks == nil }

    func limits() throws -> ResourceLimits {
        var limits = ResourceLimits()
        if let memory {
            guard let bytes = ByteSize.parse(memory) else {
                throw badInput("--memory \(memory) is not a size; write e.g. 2G or 512M")
            }
            limits.memoryMaxBytes = bytes
        }
        if let cpus {
            guard cpus > 0 else { throw badInput("--cpus must be more than 0, e.g. 0.5 or 2") }
            limits.cpus = cpus
        }
        if let tasks {
            guard tasks > 0 else { throw badInput("--tasks must be at least 1") }
            limits.tasksMax = tasks
        }
        return limits
    }
}
