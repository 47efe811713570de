import StudioCore
#if canImport(Glibc)
import Glibc
#endif

/// Removal of a tree the broker owns by descriptor: it never follows a symbolic link (a directory swapped for a
/// link makes `O_NOFOLLOW` fail instead of leading elsewhere) and never crosses into another file system (a mount
/// below the tree is left alone and fails the removal). Used for runtime directories and container workspaces'
/// layers, whose files belong to unprivileged uids that may have made any shape of tree.
enum FileTree {
    /// How deep a tree may go (a container's layer holds whatever its root made, node_modules included).
    static let maxDepth = 512

    /// Removes `name` in the directory `parentFD`, whatever it is; nothing there is not an error. `describe` names
    /// the tree in errors.
    static func remove(_ name: String, in parentFD: Int32, describe: String) throws(BrokerError) {
        var info = stat()
        if fstatat(parentFD, name, &info, AT_SYMLINK_NOFOLLOW) != 0 {
            if errno == ENOENT { return }
            throw failure("examine", "\(describe)/\(name)")
        }
        try remove(name, in: parentFD, info: info, device: info.st_dev, depth: 0, describe: describe)
    }

    private static func remove(_ name: String, in parentFD: Int32, info: stat, device: UInt, depth: Int, describe: String) throws(BrokerError) {
        guard info.st_mode & S_IFMT == S_IFDIR else {
            guard unlinkat(parentFD, name, 0) == 0 || errno == ENOENT else { throw failure("remove", "\(describe): \(name)") }
            return
        }
        guard depth < maxDepth else { throw BrokerError.internalError("cannot remove \(describe): nested more than \(maxDepth) directories deep") }
        guard info.st_dev == device else {
            throw BrokerError.internalError("cannot remove \(describe): \(name) is another file system mounted inside it; unmount it first")
        }
        let fd = openat(parentFD, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw failure("open", "\(describe): \(name)") }
        guard let listing = fdopendir(fd) else {
            close(fd)
            throw failure("list", "\(describe): \(name)")
        }
        defer { closedir(listing) }
        var names: [String] = []
        while let entry = readdir(listing) {
            let child = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if child != ".", child != ".." { names.append(child) }
        }
        for child in names {
            var childInfo = stat()
            if fstatat(fd, child, &childInfo, AT_SYMLINK_NOFOLLOW) != 0 {
                if errno == ENOENT { continue }
                throw failure("examine", "\(describe): \(child)")
            }
            try remove(child, in: fd, info: childInfo, device: device, depth: depth + 1, describe: describe)
        }
        guard unlinkat(parentFD, name, AT_REMOVEDIR) == 0 || errno == ENOENT else { throw failure("remove", "\(describe): \(name)") }
    }

    /// The directory `path`, made with `mode` if missing, checked to be the broker's and writable by it alone, and
    /// given `mode`; `hint` says what to do when it is not.
    static func openOwnDirectory(_ path: String, mode: mode_t, hint: String) throws(BrokerError) -> Int32 {
        if mkdir(path, mode) != 0, errno != EEXIST { throw failure("create", path) }
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw failure("open", path) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_uid == geteuid(), info.st_mode & 0o022 == 0 else {
            close(fd)
            throw BrokerError.internalError("\(path) is not a directory of the broker's user that only it can write; refusing to use it (\(hint))")
        }
        if info.st_mode & 0o7777 != mode, fchmod(fd, mode) != 0 {
            close(fd)
            throw failure("set the mode of", path)
        }
        return fd
    }

    static func failure(_ action: String, _ what: String) -> BrokerError {
        BrokerError.internalError("cannot \(action) \(what): \(String(cString: strerror(errno)))")
    }
}
