#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import ServiceLifecycle
import StudioCore
import StudioNet
import StudioJournal
import UnixSignals
#if canImport(Glibc)
import Glibc
#endif

/// Wires an ``Agent`` to its socket and to the service manager: listens on the spec's socket (mode 0660, a stale
/// file removed first), tells systemd it is ready, starts the apps, and on SIGTERM stops what it started.
struct AgentHost {
    let agent: Agent
    let logger: Logger

    /// Why an agent cannot start.
    struct SpecError: Error, CustomStringConvertible {
        var description: String
    }

    init(spec: AgentSpec, appBackoff: AppSupervisor.Backoff = .init(), access: AgentAccess? = nil, logger: Logger) {
        agent = Agent(spec: spec, access: access, appBackoff: appBackoff, logger: logger)
        self.logger = logger
    }

    /// Reads and checks the spec the broker wrote.
    static func loadSpec(_ path: String) throws -> AgentSpec {
        let data = try readFile(path)
        let spec: AgentSpec
        do {
            spec = try JSONDecoder().decode(AgentSpec.self, from: data)
        } catch {
            throw SpecError(description: "the agent spec \(path) is not valid: \(BrokerWire.describe(error))")
        }
        var info = stat()
        guard stat(spec.projectDirectory, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
            throw SpecError(description: "the project directory \(spec.projectDirectory) does not exist or is not a directory")
        }
        guard spec.socketPath.hasPrefix("/") else {
            throw SpecError(description: "the agent socket path \(spec.socketPath) is not absolute")
        }
        return spec
    }

    /// In a container, before READY: the owner's lines in the image's `/etc/passwd` and `/etc/group`. A failure is
    /// logged and the agent goes on (sessions then run with a uid that has no name).
    static func installAccount(_ account: ContainerAccount, spec: AgentSpec, etc: String = "/etc", logger: Logger) {
        let shell = ContainerAccounts.shell(preferred: spec.shell)
        do {
            try ContainerAccounts.install(account, shell: shell, etc: etc)
            logger.info("container account: \(account.name) (uid \(account.uid), gid \(account.gid)), shell \(shell)")
        } catch {
            logger.error("cannot record the owner in \(etc)/passwd and \(etc)/group: \(error)")
        }
    }

    /// The contents of a small file, with the system's reason if it cannot be read.
    static func readFile(_ path: String, limit: Int = 4 << 20) throws -> Data {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SpecError(description: "cannot read the agent spec \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while data.count < limit {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count == 0 { break }
            if count < 0 {
                if errno == EINTR { continue }
                throw SpecError(description: "cannot read the agent spec \(path): \(String(cString: strerror(errno)))")
            }
            data.append(contentsOf: buffer[..<count])
        }
        return data
    }

    /// The agent's services; run the group to serve, trigger its graceful shutdown to stop.
    /// `listener`: the socket the broker bound and handed over; nil binds the spec's socket path (tests).
    func serviceGroup(listener: Listener? = nil, signals: [UnixSignal] = [], onReady: @escaping @Sendable () -> Void = {}) -> ServiceGroup {
        // Writing to a pipe whose reader left must be an error, not the end of the agent.
        signal(SIGPIPE, SIG_IGN)
        let agent = self.agent, logger = self.logger
        let socket = agent.spec.socketPath
        // A socket bound here is created by bind(2) with the umask's mode: make that 0600 from the first moment.
        // Nothing else creates files until onReady puts the umask back (the apps start after it).
        let umaskBefore = umask(0o177)
        let server = ActivatedServer(
            listeners: [listener ?? .unix(path: socket)],
            child: AgentChannel(agent: agent),
            idleExit: nil,
            logger: logger,
            onReady: {
                umask(umaskBefore)
                logger.info("agent is ready", metadata: ["socket": "\(socket)", "apps": "\(agent.spec.apps.count)", "protocol": "\(AgentProtocol.version)"])
                ServiceNotifier.ready(status: "serving \(agent.spec.workspace.displayName) on \(socket)")
                agent.start()
                onReady()
            })
        return ServiceGroup(configuration: .init(
            services: [
                .init(service: server, successTerminationBehavior: .gracefullyShutdownGroup),
                // Last, so that it is told first on shutdown: it ends the sessions the server waits for.
                .init(service: AgentService(agent: agent), successTerminationBehavior: .gracefullyShutdownGroup),
            ],
            gracefulShutdownSignals: signals,
            logger: logger))
    }
}

/// Stops the agent's children when the service group shuts down.
struct AgentService: Service {
    let agent: Agent

    func run() async throws {
        try? await gracefulShutdown()
        agent.logger.info("stopping: ending terminals, exec'd programs and apps")
        await agent.shutdown()
    }
}
