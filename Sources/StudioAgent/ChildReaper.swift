#if canImport(Glibc)
import Glibc
#endif

/// Waits for child processes to end without blocking an event loop or a Swift concurrency thread: each wait
/// runs on a small thread of its own, blocked in `waitpid` for exactly that child (the agent has few children, and
/// waiting for one pid never steals another part of the program's child).
enum ChildReaper {
    /// Waits for `pid` to end and returns its exit code, or 128+signal if a signal killed it. `onReaped` runs on the
    /// waiting thread right after `waitpid`, before the pid can be reused by much.
    static func exitCode(of pid: pid_t, onReaped: @escaping @Sendable () -> Void = {}) async -> Int32 {
        await withCheckedContinuation { continuation in
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
