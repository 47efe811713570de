import StudioCore
#if canImport(Glibc)
import Glibc
#endif

/// Path resolution the broker does itself, one component at a time by descriptor, because `openat2`'s
/// `RESOLVE_IN_ROOT` and `RESOLVE_NO_SYMLINKS` are out of its reach: systemd's `RestrictSUIDSGID=` makes `openat2`
/// fail with ENOSYS (it cannot inspect the mode inside the struct), and the broker keeps that restriction.
enum PathWalk {
    /// O_PATH (Swift's Glibc module leaves it out).
    static let pathOnly: Int32 = 0o10000000

    /// Opens the directory `path` (absolute) without following any symbolic link on the way or at the end: a link
    /// anywhere fails with ELOOP or ENOTDIR. Returns an `O_PATH` descriptor, or -errno.
    static func openDirectoryNoLinks(_ path: String) -> Int32 {
        guard path.hasPrefix("/") else { return -EINVAL }
        var fd = open("/", pathOnly | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return -errno }
        for component in path.split(separator: "/") where component != "." {
            guard component != ".." else {
                close(fd)
                return -EINVAL
            }
            let next = openat(fd, String(component), pathOnly | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            let error = errno
            close(fd)
            guard next >= 0 else { return -error }
            fd = next
        }
        return fd
    }

    /// Opens `path` with `flags` as if `rootFD` were `/`: symbolic links (absolute or relative) and `..` are
    /// resolved inside that tree and can never leave it, as in a chroot (what `openat2(RESOLVE_IN_ROOT)` does). At
    /// most 40 links. Returns a descriptor, or -errno.
    static func openInRoot(_ rootFD: Int32, _ path: String, flags: Int32) -> Int32 {
        var pending = path.split(separator: "/").map(String.init).reversed() as [String]
        var stack: [Int32] = [dup(rootFD)]
        guard stack[0] >= 0 else { return -errno }
        defer { stack.forEach { close($0) } }
        var links = 0
        while let component = pending.popLast() {
            if component == "." || component.isEmpty { continue }
            if component == ".." {
                if stack.count > 1 { close(stack.removeLast()) }
                continue
            }
            let parent = stack[stack.count - 1]
            var info = stat()
            guard fstatat(parent, component, &info, AT_SYMLINK_NOFOLLOW) == 0 else { return -errno }
            if info.st_mode & S_IFMT == S_IFLNK {
                links += 1
                guard links <= 40 else { return -ELOOP }
                var buffer = [CChar](repeating: 0, count: 4096)
                let count = readlinkat(parent, component, &buffer, buffer.count - 1)
                guard count > 0 else { return count == 0 ? -ENOENT : -errno }
                let target = String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if target.hasPrefix("/") {
                    while stack.count > 1 { close(stack.removeLast()) }
                }
                pending += target.split(separator: "/").map(String.init).reversed()
            } else if pending.contains(where: { !$0.isEmpty && $0 != "." }) {
                guard info.st_mode & S_IFMT == S_IFDIR else { return -ENOTDIR }
                let fd = openat(parent, component, pathOnly | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard fd >= 0 else { return -errno }
                stack.append(fd)
            } else {
                let fd = openat(parent, component, flags | O_NOFOLLOW | O_CLOEXEC)
                return fd >= 0 ? fd : -errno
            }
        }
        let fd = openat(stack[stack.count - 1], ".", flags | O_CLOEXEC)
        return fd >= 0 ? fd : -errno
    }

    /// A regular file inside the tree, for reading (``openInRoot``); -errno, -EISDIR/-EINVAL for other kinds.
    static func openFileInRoot(_ rootFD: Int32, _ path: String) -> Int32 {
        // O_NONBLOCK: a FIFO planted in a tree must not hang the broker.
        let fd = openInRoot(rootFD, path, flags: O_RDONLY | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else { return fd }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            return -EINVAL
        }
        return fd
    }

    /// The contents of a small file opened with ``openFileInRoot``, or nil.
    static func readFileInRoot(_ rootFD: Int32, _ path: String, limit: Int = 64 * 1024) -> String? {
        let fd = openFileInRoot(rootFD, path)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 8192)
        while bytes.count < limit {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { break }
            bytes += buffer[0..<count]
        }
        return String(decoding: bytes.prefix(limit), as: UTF8.self)
    }
}
