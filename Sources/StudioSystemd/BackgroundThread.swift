#if canImport(Glibc)
import Glibc
#endif

/// Runs blocking work (a journal follower waiting in `sd_journal_wait`) on a thread of its own, so that it does
/// not hold one of Swift's few cooperative threads.
public enum BackgroundThread {
    private final class Work {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }

    /// Starts `body` on a new detached thread.
    public static func run(_ body: @escaping @Sendable () -> Void) {
        let context = Unmanaged.passRetained(Work(body)).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(&thread, nil, { context in
            Unmanaged<Work>.fromOpaque(context!).takeRetainedValue().body()
            return nil
        }, context)
        if result == 0 {
            pthread_detach(thread)
        } else {
            // No thread could be made: run inline rather than lose the work.
            Unmanaged<Work>.fromOpaque(context).takeRetainedValue().body()
        }
    }
}
