import NIOCore
import Synchronization

/// Hands body chunks from the task that reads an app's answer to the response writer, one at a time: the reader
/// waits until the writer took the last chunk, so a slow browser slows the app down instead of filling memory.
final class Handoff: Sendable, AsyncSequence {
    typealias Element = ByteBuffer

    private struct State {
        var chunk: ByteBuffer?
        var consumer: CheckedContinuation<ByteBuffer?, any Error>?
        var producer: CheckedContinuation<Void, any Error>?
        var finished = false
        var failure: (any Error)?
        var cancelled = false
    }
    private let state = Mutex(State())

    /// Gives one chunk; returns once it was taken. Throws when the writer went away.
    func put(_ chunk: ByteBuffer) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let resume: (() -> Void)? = state.withLock { state in
                if state.cancelled { return { continuation.resume(throwing: CancellationError()) } }
                if let consumer = state.consumer {
                    state.consumer = nil
                    return { consumer.resume(returning: chunk); continuation.resume() }
                }
                state.chunk = chunk
                state.producer = continuation
                return nil
            }
            resume?()
        }
    }

    /// No more chunks (with `error`, the answer broke off).
    func finish(_ error: (any Error)? = nil) {
        let consumer: CheckedContinuation<ByteBuffer?, any Error>? = state.withLock { state in
            state.finished = true
            state.failure = error
            defer { state.consumer = nil }
            return state.chunk == nil ? state.consumer : nil
        }
        if let error { consumer?.resume(throwing: error) } else { consumer?.resume(returning: nil) }
    }

    /// The writer went away: the reader's next `put` throws.
    func cancel() {
        let producer: CheckedContinuation<Void, any Error>? = state.withLock { state in
            state.cancelled = true
            defer { state.producer = nil }
            return state.producer
        }
        producer?.resume(throwing: CancellationError())
    }

    func next() async throws -> ByteBuffer? {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ByteBuffer?, any Error>) in
            let resume: (() -> Void) = state.withLock { state in
                if let chunk = state.chunk {
                    state.chunk = nil
                    let producer = state.producer
                    state.producer = nil
                    return { producer?.resume(); continuation.resume(returning: chunk) }
                }
                if state.finished {
                    let failure = state.failure
                    return { if let failure { continuation.resume(throwing: failure) } else { continuation.resume(returning: nil) } }
                }
                state.consumer = continuation
                return {}
            }
            resume()
        }
    }

    struct AsyncIterator: AsyncIteratorProtocol {
        /// Cancels the hand-off when the writer drops the iterator.
        final class Owner: Sendable {
            let handoff: Handoff
            init(_ handoff: Handoff) { self.handoff = handoff }
            deinit { handoff.cancel() }
        }
        let owner: Owner
        mutating func next() async throws -> ByteBuffer? { try await owner.handoff.next() }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(owner: .init(self)) }
}
