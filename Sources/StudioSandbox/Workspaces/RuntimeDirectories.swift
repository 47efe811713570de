#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import StudioCore
#if canImport(Glibc)
import Glibc
#endif

/// The per-workspace runtime directory, `/run/studio/ws/<id>/`, and what is in it.
///
/// Every directory on the way is root's and writable by root only, so nothing the broker does here follows a name
/// a user could have planted: `/run/studio/ws` is root:root 0711 (nobody can list whose workspaces exist), each
/// `<id>/` is root:root 0711 (the owner may pass through to the socket, nobody may list it), and the broker
/// itself makes the two entries inside, by descriptor:
/// - `agent.json`, the agent's spec, handed to the owner (mode 0400): the template's environment is theirs alone;
/// - `agent.sock`, the agent's listening socket, bound by the broker and handed to the owner (mode 0600), then
///   passed to the workspace unit as its standard input. The agent never needs to create anything in /run, so a
///   workspace cannot fill /run either.
/// Removal is an `unlinkat` walk by descriptor that never follows a symbolic link; a failure fails the operation.
public struct RuntimeDirectories: Sendable {
    public var root: String
    /// Hand the spec and socket to the workspace owner (needs root; tests running unprivileged turn it off).
    public var changeOwner: Bool

    public init(root: String = Paths.workspaceRuntimeRoot, changeOwner: Bool = geteuid() == 0) {
        self.root = root
        self.changeOwner = changeOwner
    }

    public func directory(for identity: WorkspaceIdentity) -> String { "\(root)/\(identity.id)" }

    /// What `prepare` made: the spec's path and the listening socket (the caller closes it once the unit has it).
    struct Prepared {
        var specPath: String
        var listener: Int32
    }

    /// Makes the directory afresh, writes the agent's spec and binds the agent's socket. `specOwner`: who reads the
    /// spec when it is not the owner (a container's root, an unprivileged host uid).
    func prepare(_ spec: AgentSpec, owner: UserAccount, specOwner: (uid: UInt32, gid: UInt32)? = nil) throws(BrokerError) -> Prepared {
        let id = spec.workspace.id
        let rootFD = try openRoot()
        defer { close(rootFD) }
        try remove(id, in: rootFD)
        guard mkdirat(rootFD, id, 0o711) == 0 else { throw failure("create", directory(for: spec.workspace)) }
        let directoryFD = openat(rootFD, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard directoryFD >= 0 else { throw failure("open", directory(for: spec.workspace)) }
        defer { close(directoryFD) }
        do throws(BrokerError) {
            guard fchmod(directoryFD, 0o711) == 0 else { throw failure("set the mode of", directory(for: spec.workspace)) }
            try writeSpec(spec, in: directoryFD, reader: specOwner ?? (owner.uid, owner.gid))
            return Prepared(specPath: "\(directory(for: spec.workspace))/agent.json", listener: try bindSocket(spec, in: directoryFD, owner: owner))
        } catch {
            try? remove(id, in: rootFD)
            throw error
        }
    }

    /// Removes the directory and what is in it; nothing there is not an error.
    func remove(_ identity: WorkspaceIdentity) throws(BrokerError) {
        let rootFD = try openRoot()
        defer { close(rootFD) }
        try remove(identity.id, in: rootFD)
    }

    // MARK: Steps

    /// `/run/studio/ws`, made if missing, checked to be ours and writable by us alone, mode 0711.
    func openRoot() throws(BrokerError) -> Int32 {
        try FileTree.openOwnDirectory(root, mode: 0o711, hint: "remove it and restart studio-sandbox.socket")
    }

    func writeSpec(_ spec: AgentSpec, in directoryFD: Int32, reader: (uid: UInt32, gid: UInt32)) throws(BrokerError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        guard let data = try? encoder.encode(spec) else { throw BrokerError.internalError("cannot encode the agent spec") }
        let fd = openat(directoryFD, "agent.json", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o400)
        guard fd >= 0 else { throw failure("create", "agent.json") }
        defer { close(fd) }
        var offset = 0
        while offset < data.count {
            let written = data.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0, errno == EINTR { continue }
            guard written > 0 else { throw failure("write", "agent.json") }
            offset += written
        }
        guard fchmod(fd, 0o400) == 0, !changeOwner || fchown(fd, reader.uid, reader.gid) == 0 else {
            throw failure("hand over", "agent.json")
        }
    }

    func bindSocket(_ spec: AgentSpec, in directoryFD: Int32, owner: UserAccount) throws(BrokerError) -> Int32 {
        let path = spec.socketPath
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.utf8.count < capacity else { throw BrokerError.internalError("the agent socket path \(path) is too long") }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: path.utf8)
            buffer[path.utf8.count] = 0
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw failure("create a socket for", path) }
        // Every directory on the path is root's (checked above and made here), so the path cannot be redirected.
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0,
              fchmodat(directoryFD, "agent.sock", 0o600, 0) == 0,
              !changeOwner || fchownat(directoryFD, "agent.sock", owner.uid, owner.gid, AT_SYMLINK_NOFOLLOW) == 0,
              listen(fd, 128) == 0
        else {
            let error = failure("bind", path)
            close(fd)
            throw error
        }
        return fd
    }

    /// Removes `name` in the directory `parentFD`, whatever it is, without following symbolic links. A directory
    /// of an older Studio (the owner's) may hold anything.
    func remove(_ name: String, in parentFD: Int32) throws(BrokerError) {
        try FileTree.remove(name, in: parentFD, describe: root)
    }

    func failure(_ action: String, _ what: String) -> BrokerError {
        BrokerError.internalError("cannot \(action) \(what): \(String(cString: strerror(errno)))")
    }
}
