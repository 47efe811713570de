import CMount
import StudioCore
#if canImport(Glibc)
import Glibc
#endif

/// A transient service running `systemd-nspawn` on an image (docs/architecture.md, "Container workspaces").
///
/// The root is the shared image, idmapped read-only into the workspace's uid range, under the workspace's own
/// writable layer (`<data>/<id>/upper`, owned by the range's root); the owner inside has their host name, uid and
/// gid, their project directory (a one-uid idmapped mount: their files are theirs on both sides, and root inside
/// can make nothing there) and a home of the workspace's own (`<data>/<id>/home`). Root inside is host uid
/// `uidBase`, no one on the host. The agent runs inside as PID 1 from the host's binary, on the listener the broker
/// bound (its standard input), so the image needs nothing of Studio.
struct ContainerBackend: WorkspaceBackend {
    let dataRoot: String
    let imageDirectory: String
    let agentProgram: String
    let sandboxProgram: String
    let nspawn: String

    /// The workspace unit's sandboxing: the host backend's, less what nspawn itself needs (the cgroup tree for its
    /// payload, its hostname, setuid programs inside such as sudo, which are harmless because root inside is
    /// unprivileged), plus a delegated cgroup subtree and the unit's own mount namespace for the idmapped mounts.
    static let sandboxing: [String: Bool] = [
        "PrivateTmp": true,
        "PrivateMounts": true,
        "ProtectKernelTunables": true,
        "ProtectKernelModules": true,
        "ProtectKernelLogs": true,
        "ProtectClock": true,
        "RestrictRealtime": true,
        "LockPersonality": true,
        "Delegate": true,
    ]

    static let stringProperties: [String: String] = [
        "ProtectProc": "invisible",
        "ProtectSystem": "full",
        "OOMPolicy": "continue",
        // SIGTERM to nspawn, which passes it to the agent (PID 1 inside); then SIGKILL to whatever is left.
        "KillMode": "mixed",
    ]

    func prepare(_ context: LaunchContext) throws(BrokerError) {
        let definition = context.definition
        guard let base = definition.uidBase, ContainerRange.slot(of: base) != nil else {
            throw BrokerError.internalError("\(definition.identity.displayName) has no container uid range")
        }
        let owner = context.owner
        guard owner.uid < ContainerRange.size, owner.gid < ContainerRange.size else {
            throw BrokerError.badRequest("\(owner.name)'s uid \(owner.uid) or gid \(owner.gid) is 65536 or more; container workspaces map uids 0 to 65535 only (use a host template)")
        }
        guard access(nspawn, X_OK) == 0 else {
            throw BrokerError.unavailable("\(nspawn) is missing: container workspaces need systemd-nspawn (apt install systemd-container)")
        }
        guard let image = context.template.image else {
            throw BrokerError.badRequest("template \(context.template.name) runs containers but names no Image=")
        }
        try Self.checkImage(image, in: imageDirectory)
        try Self.checkProject(definition.projectDirectory, owner: owner)
        try ContainerData(root: dataRoot).make(definition.identity, base: base, owner: owner)
    }

    func agentSpec(_ context: LaunchContext) -> AgentSpec {
        var spec = UnitSpecBuilder.agentSpec(
            for: context.definition, owner: context.owner, template: context.template, runtimeDirectory: context.runtimeDirectory)
        let owner = context.owner
        spec.container = ContainerAccount(
            name: owner.name, uid: owner.uid, gid: owner.gid, group: UserAccount.groupName(of: owner.gid) ?? owner.name, home: owner.home)
        return spec
    }

    func specReader(_ context: LaunchContext) -> (uid: UInt32, gid: UInt32)? {
        context.definition.uidBase.map { ($0, $0) }
    }

    func unit(_ context: LaunchContext, specPath: String, listener: Int32) -> TransientServiceSpec {
        let definition = context.definition
        let identity = definition.identity
        let owner = context.owner
        let argv = [
            sandboxProgram, "container-run",
            "--workspace", identity.id,
            "--image", context.template.image?.rawValue ?? "",
            "--uid-base", "\(definition.uidBase ?? 0)",
            "--owner-uid", "\(owner.uid)", "--owner-gid", "\(owner.gid)",
            "--home", owner.home,
            "--project", definition.projectDirectory,
            "--hostname", identity.name.rawValue,
            "--network", context.template.network.rawValue,
            "--agent", agentProgram,
            "--spec", specPath,
            "--data", "\(dataRoot)/\(identity.id)",
            "--runtime", context.runtimeDirectory,
            "--images", imageDirectory,
            "--nspawn", nspawn,
        ]
        return TransientServiceSpec(
            name: identity.unitName,
            description: "Studio container workspace \(identity.displayName) (\(context.template.image?.rawValue ?? "?"))",
            slice: identity.sliceName,
            user: "root",
            workingDirectory: "/",
            argv: argv,
            environment: [
                "STUDIO_WORKSPACE": identity.name.rawValue,
                "STUDIO_OWNER": identity.owner,
                "STUDIO_PROJECT_DIR": definition.projectDirectory,
            ],
            limits: context.limits,
            booleanProperties: Self.sandboxing,
            stringProperties: Self.stringProperties,
            notifyReady: true,
            standardInput: listener)
    }

    /// nspawn's one child, the container's PID 1 (the agent).
    func agentPID(mainPID: UInt32) -> UInt32? {
        guard mainPID != 0 else { return nil }
        let path = "/proc/\(mainPID)/task/\(mainPID)/children"
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        return String(decoding: buffer[0..<count], as: UTF8.self).split(separator: " ").first.flatMap { UInt32($0) }
    }

    func reset(_ definition: WorkspaceDefinition, home: Bool) throws(BrokerError) {
        try ContainerData(root: dataRoot).reset(definition.identity, home: home)
    }

    func removeData(_ definition: WorkspaceDefinition) throws(BrokerError) {
        try ContainerData(root: dataRoot).remove(definition.identity)
    }

    // MARK: Checks

    /// The image must be one `images` calls usable (a directory of root's, an OS tree, read without leaving it).
    static func checkImage(_ image: ImageName, in directory: String) throws(BrokerError) {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        let info = fd >= 0 ? ImageDirectory.inspect(image.rawValue, in: fd, directory: directory) : nil
        if fd >= 0 { close(fd) }
        guard let info else {
            let problem = "does not exist in \(directory); `studioctl images` lists the images, `sudo studioctl image build \(image.rawValue)` makes one"
            throw BrokerError.badRequest(WorkspaceError.image(name: image.rawValue, problem: problem).description)
        }
        guard info.usable else {
            throw BrokerError.badRequest(WorkspaceError.image(name: image.rawValue, problem: info.problem ?? "cannot be used").description)
        }
    }

    /// The project directory is mounted for the owner's uid alone, so it must be theirs; reached without symbolic
    /// links (its stored path is canonical).
    static func checkProject(_ path: String, owner: UserAccount) throws(BrokerError) {
        let fd = PathWalk.openDirectoryNoLinks(path)
        guard fd >= 0 else {
            throw BrokerError.badRequest(WorkspaceError.projectDirectory(
                path: path, problem: "cannot be opened without following links (\(String(cString: strerror(-fd)))); a container workspace needs a real directory of its owner's").description)
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_uid == owner.uid else {
            throw BrokerError.badRequest(WorkspaceError.projectDirectory(
                path: path, problem: "is not owned by \(owner.name); a container workspace shows the project directory as its owner's only").description)
        }
    }
}
