import Logging
import StudioCore
import StudioNet
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Keeps the workspace's web apps running: each is `/bin/sh -c COMMAND` with `$STUDIO_APP_SOCKET` pointing at
/// `<runtime dir>/apps/<name>.sock`, restarted when it exits after a back-off that doubles from ``Backoff/initial``
/// up to ``Backoff/maximum`` and starts over once a run lasted ``Backoff/resetAfter``.
final class AppSupervisor: Sendable {
    /// Restart pacing.
    struct Backoff: Sendable {
        var initial: Duration = .seconds(1)
        var maximum: Duration = .seconds(30)
        var resetAfter: Duration = .seconds(60)
    }

    private struct App {
        var spec: AppSpec
        var socket: String
        var pid: pid_t?
        var restarts = 0
        var lastExitCode: Int32?
    }

    private let apps: Mutex<[String: App]>
    private let order: [String]
    private let stopping = Atomic<Bool>(false)
    private let tasks = Mutex<[Task<Void, Never>]>([])
    private let spec: AgentSpec
    private let environment: AgentEnvironment
    private let backoff: Backoff
    private let logger: Logger
    /// `<runtime dir>/apps`.
    let directory: String

    init(spec: AgentSpec, environment: AgentEnvironment, runtimeDirectory: String, backoff: Backoff = Backoff(), logger: Logger) {
        self.spec = spec
        self.environment = environment
        self.backoff = backoff
        self.logger = logger
        directory = spec.appDirectory ?? "\(runtimeDirectory)/apps"
        var apps: [String: App] = [:]
        var order: [String] = []
        for app in spec.apps {
            guard AgentProtocol.isValidTerminalName(app.name), apps[app.name] == nil else {
                logger.error("app \"\(app.name)\" skipped: its name must be unique and 1-64 of [A-Za-z0-9._-]", metadata: ["app": "\(app.name)"])
                continue
            }
            apps[app.name] = App(spec: app, socket: "\(directory)/\(app.name).sock")
            order.append(app.name)
        }
        self.apps = Mutex(apps)
        self.order = order
    }

    /// Starts supervising every app (returns at once).
    func start() {
        guard !order.isEmpty else { return }
        if mkdir(directory, 0o700) != 0, errno != EEXIST {
            logger.error("cannot create the apps directory \(directory): \(String(cString: strerror(errno))); apps will fail to listen")
        } else if let owner = environment.owner.credentials {
            // A container's agent is root; the apps, the owner, make their sockets in it.
            let fd = open(directory, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if fd < 0 || fchown(fd, owner.uid, owner.gid) != 0 {
                logger.error("cannot give the apps directory \(directory) to the owner: \(String(cString: strerror(errno))); apps will fail to listen")
            }
            if fd >= 0 { close(fd) }
        }
        let started = order.map { name in Task { await self.supervise(name) } }
        tasks.withLock { $0 = started }
    }

    /// Stops restarting, asks every app to stop (SIGTERM to its process group) and waits for the supervisors.
    func stop() async {
        stopping.store(true, ordering: .sequentiallyConsistent)
        let running = apps.withLock { $0.values.compactMap(\.pid) }
        running.forEach { ProcessSpawner.signalGroup($0, SIGTERM) }
        let tasks = self.tasks.withLock { $0 }
        tasks.forEach { $0.cancel() }
        for task in tasks { await task.value }
    }

    /// Every app and its state, in template order.
    func status() -> [AppStatus] {
        apps.withLock { apps in
            order.compactMap { apps[$0] }.map {
                AppStatus(name: $0.spec.name, pid: $0.pid, running: $0.pid != nil, restarts: $0.restarts, socket: $0.socket, lastExitCode: $0.lastExitCode)
            }
        }
    }

    private var isStopping: Bool { stopping.load(ordering: .sequentiallyConsistent) }

    private func supervise(_ name: String) async {
        guard let (app, socket) = apps.withLock({ $0[name].map { ($0.spec, $0.socket) } }) else { return }
        var logger = self.logger
        logger[metadataKey: "app"] = "\(name)"
        var delay = backoff.initial
        var first = true
        while !isStopping {
            if !first { apps.withLock { $0[name]?.restarts += 1 } }
            first = false
            unlink(socket)
            let variables = environment.variables(extra: app.environment.merging(["STUDIO_APP_SOCKET": socket]) { _, new in new })
            let began = ContinuousClock.now
            do {
                let pid = try ProcessSpawner.spawn(
                    ["/bin/sh", "-c", app.command], environment: variables, directory: spec.projectDirectory,
                    stdio: [.open("/dev/null"), .inherit, .inherit], as: environment.owner.credentials)
                apps.withLock { $0[name]?.pid = pid }
                logger.info("app \(name) started: \(app.command)", metadata: ["app_pid": "\(pid)", "app_socket": "\(socket)"])
                if isStopping { ProcessSpawner.signalGroup(pid, SIGTERM) }
                let code = await ChildReaper.exitCode(of: pid, onReaped: { [self] in
                    apps.withLock { $0[name]?.pid = nil }
                })
                apps.withLock { $0[name]?.lastExitCode = code }
                if isStopping {
                    logger.info("app \(name) stopped with exit code \(code)", metadata: ["exit_code": "\(code)"])
                    break
                }
                if ContinuousClock.now - began >= backoff.resetAfter { delay = backoff.initial }
                logger.warning(
                    "app \(name) exited with code \(code); restarting in \(Self.format(delay))",
                    metadata: ["exit_code": "\(code)", "restart_delay_seconds": "\(delay.seconds)"])
            } catch {
                logger.error("app \(name) could not start: \(error); retrying in \(Self.format(delay))")
            }
            try? await Task.sleep(for: delay)
            delay = min(delay * 2, backoff.maximum)
        }
    }

    static func format(_ duration: Duration) -> String {
        let seconds = duration.seconds
        return seconds == seconds.rounded() ? "\(Int(seconds))s" : "\(seconds)s"
    }
}
