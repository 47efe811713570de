#if canImport(Glibc)
import Glibc
#endif

/// A failed system or libsystemd call: which call, and the errno it reported.
public struct SystemError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The call that failed, e.g. `sd_journal_open`.
    public var call: String
    /// The positive errno value.
    public var errno: Int32

    public init(_ call: String, errno: Int32) {
        self.call = call
        self.errno = errno
    }

    public var description: String {
        "\(call): \(String(cString: strerror(errno)))"
    }

    /// Turns libsystemd's convention (negative errno on failure) into a thrown error.
    @discardableResult
    package static func check(_ call: String, _ result: Int32) throws(SystemError) -> Int32 {
        if result < 0 { throw SystemError(call, errno: -result) }
        return result
    }
}
