import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// Who is on the other end of a unix socket, as the kernel says (SO_PEERCRED): not forgeable by the peer.
public struct PeerCredentials: Sendable, Equatable, CustomStringConvertible {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32

    public init(pid: Int32, uid: UInt32, gid: UInt32) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
    }

    public var description: String { "uid \(uid) (pid \(pid))" }

    /// Layout of the kernel's `struct ucred`.
    struct UCred: Sendable {
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
    }

    /// Errors reading credentials.
    public enum Error: Swift.Error, CustomStringConvertible {
        case notASocket
        public var description: String { "the connection is not a local socket; peer credentials are unknown" }
    }

    /// The credentials of the peer of a connected unix-socket channel.
    public static func of(_ channel: any Channel) async throws -> PeerCredentials {
        guard let provider = channel as? any SocketOptionProvider else { throw Error.notASocket }
        let cred: UCred = try await provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED)
        ).get()
        return PeerCredentials(pid: cred.pid, uid: cred.uid, gid: cred.gid)
    }
}
