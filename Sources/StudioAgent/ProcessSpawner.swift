import CPty
#if canImport(Glibc)
import Glibc
#endif

/// Starts child processes with `posix_spawn`, never a bare `fork()`: the agent is multithreaded, and only
/// async-signal-safe work may happen between fork and exec, which glibc's posix_spawn guarantees. With
/// ``Credentials`` (a container workspace, where the agent is root inside) it uses `cpty_spawn_as`, whose child
/// does only async-signal-safe work too and then takes the given uid and gid.
///
/// Every child gets a session of its own (`POSIX_SPAWN_SETSID`), so that it can be signalled as a group, default
/// signal dispositions and an empty signal mask (the agent's own handling must not leak into shells), and the
/// file descriptors the caller lists as 0, 1 and 2, and no other descriptor of the agent.
enum ProcessSpawner {
    /// What to do with one of the child's standard descriptors.
    enum Stdio {
        /// Open this path (read-write). Opened after `setsid`, a terminal becomes the controlling terminal.
        case open(String)
        /// Duplicate this descriptor of the agent.
        case descriptor(Int32)
        /// Leave the agent's own.
        case inherit
    }

    /// Whom the child runs as: `uid`, `gid`, and `gid` as its only supplementary group.
    struct Credentials: Sendable, Equatable {
        var uid: uid_t
        var gid: gid_t
        static let root = Credentials(uid: 0, gid: 0)
    }

    /// Why a process could not be started.
    struct Failure: Error, CustomStringConvertible {
        var program: String
        var errno: Int32
        var description: String { "cannot start \(program): \(String(cString: strerror(errno)))" }
    }

    /// Starts `argv` in `directory` with exactly `environment`; returns its pid. `credentials`: run as them
    /// (only a root agent can); nil keeps the agent's own.
    static func spawn(
        _ argv: [String], environment: [String: String], directory: String, stdio: [Stdio], as credentials: Credentials? = nil
    ) throws(Failure) -> pid_t {
        guard let program = argv.first else { throw Failure(program: "(nothing)", errno: EINVAL) }
        if let credentials {
            return try ChildReaper.registering { () throws(Failure) in
                try spawnAs(credentials, argv, environment: environment, directory: directory, stdio: stdio)
            }
        }
        return try ChildReaper.registering { () throws(Failure) in
            try posixSpawn(argv, environment: environment, directory: directory, stdio: stdio)
        }
    }

    private static func posixSpawn(
        _ argv: [String], environment: [String: String], directory: String, stdio: [Stdio]
    ) throws(Failure) -> pid_t {
        let program = argv[0]
        var actions = posix_spawn_file_actions_t()
        var attributes = posix_spawnattr_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawnattr_init(&attributes)
        defer {
            posix_spawn_file_actions_destroy(&actions)
            posix_spawnattr_destroy(&attributes)
        }

        var allSignals = sigset_t()
        sigfillset(&allSignals)
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setflags(
            &attributes, cpty_spawn_setsid() | Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        for (target, source) in stdio.enumerated() {
            let fd = Int32(target)
            switch source {
            case .open(let path):
                posix_spawn_file_actions_addopen(&actions, fd, path, O_RDWR, 0)
            case .descriptor(let descriptor):
                posix_spawn_file_actions_adddup2(&actions, descriptor, fd)
            case .inherit:
                break
            }
        }
        cpty_spawn_addchdir(&actions, directory)
        // Not every library the agent links opens its descriptors close-on-exec (NIO's accepted sockets and
        // epoll descriptors are not): a child must never hold another client's connection or terminal.
        cpty_spawn_addclosefrom(&actions, 3)

        var pid: pid_t = 0
        let cArguments = argv.map { strdup($0) } + [nil]
        let cEnvironment = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            cArguments.forEach { free($0) }
            cEnvironment.forEach { free($0) }
        }
        // posix_spawnp searches PATH of the *agent*; resolve against the child's PATH ourselves.
        let resolved = resolve(program, path: environment["PATH"] ?? defaultPath)
        let result = posix_spawn(&pid, resolved, &actions, &attributes, cArguments, cEnvironment)
        guard result == 0 else { throw Failure(program: program, errno: result) }
        return pid
    }

    /// `cpty_spawn_as`: the same child as ``posixSpawn(_:environment:directory:stdio:)`` gets, as `credentials`.
    private static func spawnAs(
        _ credentials: Credentials, _ argv: [String], environment: [String: String], directory: String, stdio: [Stdio]
    ) throws(Failure) -> pid_t {
        let program = argv[0]
        var paths: [UnsafeMutablePointer<CChar>?] = [nil, nil, nil]
        var fds: [Int32] = [-1, -1, -1]
        for (target, source) in stdio.prefix(3).enumerated() {
            switch source {
            case .open(let path): paths[target] = strdup(path)
            case .descriptor(let descriptor): fds[target] = descriptor
            case .inherit: break
            }
        }
        let cArguments = argv.map { strdup($0) } + [nil]
        let cEnvironment = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            paths.forEach { free($0) }
            cArguments.forEach { free($0) }
            cEnvironment.forEach { free($0) }
        }
        let resolved = resolve(program, path: environment["PATH"] ?? defaultPath)
        var pid: pid_t = 0
        let result = paths.map { $0.map { UnsafePointer($0) } }.withUnsafeBufferPointer { paths in
            cpty_spawn_as(&pid, resolved, cArguments, cEnvironment, directory, paths.baseAddress, fds, credentials.uid, credentials.gid)
        }
        guard result == 0 else { throw Failure(program: program, errno: result) }
        return pid
    }

    /// PATH when the agent's environment has none.
    static let defaultPath = "/usr/local/bin:/usr/bin:/bin"

    /// `program` if it contains a `/`, else the first executable match in `path`, else `program` (and spawn fails
    /// with ENOENT).
    static func resolve(_ program: String, path: String) -> String {
        guard !program.contains("/") else { return program }
        for directory in path.split(separator: ":") where !directory.isEmpty {
            let candidate = "\(directory)/\(program)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return program
    }

    /// A pipe whose both ends are close-on-exec: `(read, write)`.
    static func pipe() throws(Failure) -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        let result = cpty_pipe_cloexec(&fds)
        guard result == 0 else { throw Failure(program: "pipe", errno: -result) }
        return (fds[0], fds[1])
    }

    /// Sends `signal` to the process group (session) led by `pid`, falling back to the process alone.
    static func signalGroup(_ pid: pid_t, _ signal: Int32) {
        if kill(-pid, signal) != 0 { kill(pid, signal) }
    }
}
