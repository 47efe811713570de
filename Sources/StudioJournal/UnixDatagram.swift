#if canImport(Glibc)
import Glibc
#endif

/// Sends one datagram to a unix socket by path, the way systemd's own protocols are spoken: the journal's native
/// protocol (`/run/systemd/journal/socket`) and service notifications (`$NOTIFY_SOCKET`, which may name an abstract
/// socket with a leading `@`). libsystemd is not needed for either, so programs that must run anywhere (the agent,
/// inside a container image that has no libsystemd) speak them with this.
enum UnixDatagram {
    /// Sends `parts` as one datagram to `path`; the errno on failure.
    @discardableResult
    static func send(_ parts: [[UInt8]], to path: String) -> Int32? {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var pathBytes = Array(path.utf8)
        if pathBytes.first == UInt8(ascii: "@") { pathBytes[0] = 0 }  // abstract namespace
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !pathBytes.isEmpty, pathBytes.count < capacity else { return EINVAL }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + pathBytes.count + (pathBytes[0] == 0 ? 0 : 1))
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return errno }
        defer { close(fd) }
        let storage = parts.map { part -> UnsafeMutableRawBufferPointer in
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(part.count, 1), alignment: 1)
            buffer.copyBytes(from: part)
            return buffer
        }
        defer { storage.forEach { $0.deallocate() } }
        var vectors = zip(storage, parts).map { buffer, part in iovec(iov_base: buffer.baseAddress, iov_len: part.count) }
        let sent = withUnsafeMutablePointer(to: &address) { addressPointer in
            vectors.withUnsafeMutableBufferPointer { vectorPointer in
                var message = msghdr()
                message.msg_name = UnsafeMutableRawPointer(addressPointer)
                message.msg_namelen = length
                message.msg_iov = vectorPointer.baseAddress
                message.msg_iovlen = vectorPointer.count
                return sendmsg(fd, &message, Int32(MSG_NOSIGNAL))
            }
        }
        return sent < 0 ? errno : nil
    }
}
