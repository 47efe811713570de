import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Waits for child processes to end without blocking an event loop or a Swift concurrency thread.
///
/// Normally each wait runs on a small thread of its own, blocked in `waitpid` for exactly that child (the agent has
/// few children, and waiting for one pid never steals another part of the program's child).
///
/// As PID 1 (a container workspace) the agent must also reap the orphans the kernel hands it, or they stay zombies:
/// ``reapEveryChild()`` starts one thread in `waitpid(-1)` that hands the status of every child ``ProcessSpawner``
/// started to whoever waits for it (or keeps it until they ask) and drops the others'. ``ProcessSpawner`` registers
/// each child under the table's lock while it spawns it, and the thread looks a reaped pid up under that lock, so a
/// child that ends at once is never mistaken for an orphan.
enum ChildReaper {
    private enum Entry {
        /// Started; nobody waits yet.
        case running
        /// Someone waits.
        case waiting(CheckedContinuation<Int32, Never>, @Sendable () -> Void)
        /// Ended before anyone asked.
        case exited(Int32)
    }

    private struct Table {
        var reapsAll = false
        var children: [pid_t: Entry] = [:]
        /// Orphans reaped so far (for tests and the log).
        var orphans = 0
    }

    private static let table = Mutex(Table())
    /// Posted after each spawn, so the reaping thread can sleep while the agent has no child.
    private nonisolated(unsafe) static let wakeup: UnsafeMutablePointer<sem_t> = {
        let semaphore = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)
        sem_init(semaphore, 0, 0)
        return semaphore
    }()

    /// Whether one thread reaps every child (``reapEveryChild()`` was called).
    static var reapsAll: Bool { table.withLock { $0.reapsAll } }

    /// How many children nobody waited for (orphans) were reaped.
    static var orphansReaped: Int { table.withLock { $0.orphans } }

    /// From now on, reap every child, including orphans re-parented to this process (PID 1, or a subreaper). Call
    /// it before the first child is started; a second call does nothing.
    static func reapEveryChild() {
        let first = table.withLock { table in
            defer { table.reapsAll = true }
            return !table.reapsAll
        }
        guard first else { return }
        _ = wakeup
        runOnThread {
            while true {
                var status: Int32 = 0
                let pid = waitpid(-1, &status, 0)
                if pid > 0 {
                    delivered(pid, code: decode(status: status))
                } else if errno == ECHILD {
                    while sem_wait(wakeup) != 0, errno == EINTR {}
                }
            }
        }
    }

    /// Runs `spawn` and registers the child it returns, under the lock the reaping thread takes to look a pid up.
    static func registering<Failure: Error>(_ spawn: () throws(Failure) -> pid_t) throws(Failure) -> pid_t {
        guard reapsAll else { return try spawn() }
        let pid = try table.withLock { table throws(Failure) -> pid_t in
            let pid = try spawn()
            table.children[pid] = .running
            return pid
        }
        sem_post(wakeup)
        return pid
    }

    private static func delivered(_ pid: pid_t, code: Int32) {
        let waiter: (CheckedContinuation<Int32, Never>, @Sendable () -> Void)? = table.withLock { table in
            switch table.children[pid] {
            case .running:
                table.children[pid] = .exited(code)
            case .waiting(let continuation, let onReaped):
                table.children[pid] = nil
                return (continuation, onReaped)
            case .exited, nil:
                table.orphans += 1
            }
            return nil
        }
        if let (continuation, onReaped) = waiter {
            onReaped()
            continuation.resume(returning: code)
        }
    }

    /// Waits for `pid` to end and returns its exit code, or 128+signal if a signal killed it. `onReaped` runs on the
    /// waiting thread right after `waitpid`, before the pid can be reused by much.
    static func exitCode(of pid: pid_t, onReaped: @escaping @Sendable () -> Void = {}) async -> Int32 {
        if reapsAll {
            return await withCheckedContinuation { continuation in
                let ended: Int32? = table.withLock { table in
                    if case .exited(let code) = table.children[pid] {
                        table.children[pid] = nil
                        return code
                    }
                    table.children[pid] = .waiting(continuation, onReaped)
                    return nil
                }
                if let ended {
                    onReaped()
                    continuation.resume(returning: ended)
                }
            }
        }
        return await withCheckedContinuation { continuation in
            runOnThread {
                var status: Int32 = 0
                while true {
                    let result = waitpid(pid, &status, 0)
                    if result == pid { break }
                    if result < 0, errno != EINTR {
                        onReaped()
                        continuation.resume(returning: 255)
                        return
                    }
                }
                onReaped()
                continuation.resume(returning: decode(status: status))
            }
        }
    }

    /// The shell's convention: the exit status, or 128+signal.
    static func decode(status: Int32) -> Int32 {
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }

    private final class Body {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }

    /// Runs `body` on a new detached thread with a small stack.
    static func runOnThread(_ body: @escaping @Sendable () -> Void) {
        let context = Unmanaged.passRetained(Body(body)).toOpaque()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setstacksize(&attributes, 256 * 1024)
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        var thread = pthread_t()
        let result = pthread_create(&thread, &attributes, { context in
            Unmanaged<Body>.fromOpaque(context!).takeRetainedValue().run()
            return nil
        }, context)
        if result != 0 {
            // No thread to spare: run it here rather than never.
            Unmanaged<Body>.fromOpaque(context).takeRetainedValue().run()
        }
    }
}
