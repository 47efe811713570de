#if canImport(Glibc)
import Glibc
#endif

/// A listening socket handed over by systemd (the `sd_listen_fds_with_names` protocol).
public struct ListenSocket: Sendable, Equatable {
    /// What the socket is bound to, learnt from the kernel.
    public enum Family: Sendable, Equatable {
        case inet, inet6, unix, other(Int32)
    }

    /// The file descriptor, starting at `SD_LISTEN_FDS_START` (3).
    public var fd: Int32
    /// The `FileDescriptorName=` of the socket unit, or the unit's name.
    public var name: String
    public var family: Family
}

/// Socket activation: the sockets systemd bound for us.
public enum SocketActivation {
    /// The inherited listening sockets, in the order the socket unit lists them. Empty when not socket-activated.
    ///
    /// The `LISTEN_*` variables are removed from the environment so that child processes do not inherit them.
    public static func listenSockets() throws(SystemError) -> [ListenSocket] {
        func variable(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }
        defer { for name in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] { unsetenv(name) } }
        guard let pid = variable("LISTEN_PID").flatMap(Int32.init), pid == getpid() else { return [] }
        guard let count = variable("LISTEN_FDS").flatMap(Int32.init), count > 0 else { return [] }
        let names = variable("LISTEN_FDNAMES")?.split(separator: ":", omittingEmptySubsequences: false).map(String.init) ?? []
        return try (0..<count).map { index throws(SystemError) in
            let fd = listenFDsStart + index
            let flags = fcntl(fd, F_GETFD)
            guard flags >= 0, fcntl(fd, F_SETFD, flags | FD_CLOEXEC) == 0 else {
                throw SystemError("fcntl(F_SETFD) of inherited socket \(fd)", errno: errno)
            }
            let name = Int(index) < names.count ? names[Int(index)] : "unknown"
            return ListenSocket(fd: fd, name: name, family: family(of: fd))
        }
    }

    /// The first inherited descriptor (`SD_LISTEN_FDS_START`).
    static let listenFDsStart: Int32 = 3

    /// A listening socket passed as standard input (`StandardInputFileDescriptor=` of a transient unit), moved to a
    /// close-on-exec descriptor of its own, with /dev/null put on fd 0 so that no child inherits the socket.
    public static func standardInputListener(name: String) throws(SystemError) -> ListenSocket {
        var listening: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(0, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) == 0 else {
            throw SystemError("standard input is not a listening socket: getsockopt", errno: errno)
        }
        guard listening != 0 else { throw SystemError("standard input is not a listening socket", errno: EINVAL) }
        let fd = fcntl(0, F_DUPFD_CLOEXEC, 3)
        guard fd >= 0 else { throw SystemError("fcntl(F_DUPFD_CLOEXEC)", errno: errno) }
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        guard null >= 0 else { throw SystemError("open(/dev/null)", errno: errno) }
        guard dup2(null, 0) == 0 else { throw SystemError("dup2", errno: errno) }
        close(null)
        return ListenSocket(fd: fd, name: name, family: family(of: fd))
    }

    /// The address family a socket is bound to.
    static func family(of fd: Int32) -> ListenSocket.Family {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard result == 0 else { return .other(-1) }
        switch Int32(storage.ss_family) {
        case AF_INET: return .inet
        case AF_INET6: return .inet6
        case AF_UNIX: return .unix
        case let other: return .other(other)
        }
    }
}
