import StudioCore
#if canImport(Glibc)
import Glibc
#endif

/// A container workspace's own files: `<root>/<id>/upper` (the writable layer over the image, owned by the range's
/// root) and `<root>/<id>/home` (the owner's home inside, owned by the owner's uid in the range, 0700). `<root>` and
/// `<id>` are root's, 0711. Made, checked and removed by descriptor, never following a link.
struct ContainerData: Sendable {
    let root: String

    func make(_ identity: WorkspaceIdentity, base: UInt32, owner: UserAccount) throws(BrokerError) {
        let rootFD = try openRoot()
        defer { close(rootFD) }
        let workspaceFD = try ownDirectory(identity.id, in: rootFD, mode: 0o711, uid: 0, gid: 0, what: "\(root)/\(identity.id)")
        defer { close(workspaceFD) }
        let upper = try ownDirectory("upper", in: workspaceFD, mode: 0o755, uid: base, gid: base, what: "\(root)/\(identity.id)/upper")
        close(upper)
        let home = try ownDirectory(
            "home", in: workspaceFD, mode: 0o700, uid: base + owner.uid, gid: base + owner.gid, what: "\(root)/\(identity.id)/home")
        close(home)
    }

    func reset(_ identity: WorkspaceIdentity, home: Bool) throws(BrokerError) {
        let rootFD = try openRoot()
        defer { close(rootFD) }
        let workspaceFD = openat(rootFD, identity.id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        if workspaceFD < 0, errno == ENOENT { return }
        guard workspaceFD >= 0 else { throw FileTree.failure("open", "\(root)/\(identity.id)") }
        defer { close(workspaceFD) }
        try FileTree.remove("upper", in: workspaceFD, describe: "\(root)/\(identity.id)")
        if home { try FileTree.remove("home", in: workspaceFD, describe: "\(root)/\(identity.id)") }
    }

    func remove(_ identity: WorkspaceIdentity) throws(BrokerError) {
        let rootFD = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        if rootFD < 0, errno == ENOENT { return }
        guard rootFD >= 0 else { throw FileTree.failure("open", root) }
        defer { close(rootFD) }
        try FileTree.remove(identity.id, in: rootFD, describe: root)
    }

    /// `<root>`, made if missing, checked to be root's and writable by root alone.
    func openRoot() throws(BrokerError) -> Int32 {
        try FileTree.openOwnDirectory(root, mode: 0o711, hint: "remove it if no container workspace needs it")
    }

    /// `name` in `parentFD`: made with this owner and mode if missing, else checked to be a directory of this owner.
    func ownDirectory(_ name: String, in parentFD: Int32, mode: mode_t, uid: UInt32, gid: UInt32, what: String) throws(BrokerError) -> Int32 {
        var made = false
        if mkdirat(parentFD, name, mode) == 0 {
            made = true
        } else if errno != EEXIST {
            throw FileTree.failure("create", what)
        }
        let fd = openat(parentFD, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw FileTree.failure("open", what) }
        if made {
            // The mode first: once the directory is another uid's, changing it would need CAP_FOWNER.
            guard fchmod(fd, mode) == 0, fchown(fd, uid, gid) == 0 else {
                let error = FileTree.failure("hand over", what)
                close(fd)
                throw error
            }
            return fd
        }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_uid == uid else {
            close(fd)
            throw BrokerError.internalError("\(what) is not owned by uid \(uid) as it should be; refusing to use it (`studioctl reset` makes it anew)")
        }
        return fd
    }
}
