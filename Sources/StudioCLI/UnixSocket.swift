#if canImport(Glibc)
import Glibc
#endif

/// A blocking, connected unix stream socket: the CLI needs one request and one answer, nothing more.
final class UnixSocket {
    /// Why a connection could not be made or used.
    struct Failure: Error, CustomStringConvertible {
        var path: String
        var errno: Int32
        var description: String { "\(path): \(String(cString: strerror(errno)))" }
    }

    let path: String
    private let fd: Int32

    /// Connects to `path`, giving up on reads after `timeoutSeconds`.
    init(path: String, timeoutSeconds: Int = 30) throws(Failure) {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(path: path, errno: errno) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        // Once `fd` is set, a thrown error still runs deinit, which closes it: never close it here as well.
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw Failure(path: path, errno: ENAMETOOLONG)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard result == 0 else {
            throw Failure(path: path, errno: errno)
        }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    /// Writes all of `bytes`.
    func write(_ bytes: [UInt8]) throws(Failure) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written < 0 {
                if errno == EINTR { continue }
                throw Failure(path: path, errno: errno)
            }
            offset += written
        }
    }

    /// Reads whatever arrives next (up to 64 KiB); empty at end of stream.
    func read() throws(Failure) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count >= 0 { return Array(buffer[..<count]) }
            if errno != EINTR { throw Failure(path: path, errno: errno) }
        }
    }

    /// Reads until the peer closes.
    func readToEnd(limit: Int = 16 << 20) throws(Failure) -> [UInt8] {
        var all: [UInt8] = []
        while all.count < limit {
            let chunk = try read()
            if chunk.isEmpty { break }
            all += chunk
        }
        return all
    }

    /// Reads one `\n`-terminated line (without it); nil if the peer closed first.
    func readLine(limit: Int = 16 << 20) throws(Failure) -> [UInt8]? {
        while true {
            if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(pending[..<newline])
                pending.removeSubrange(...newline)
                return line
            }
            let chunk = try read()
            if chunk.isEmpty || pending.count > limit { return nil }
            pending += chunk
        }
    }

    private var pending: [UInt8] = []
}
