import ArgumentParser
import CMount
import StudioCore
#if canImport(Glibc)
import Glibc
#endif

/// `studio-sandbox container-run`: the main process of a container workspace's unit (root, in the unit's own
/// mount namespace: `PrivateMounts=yes`). Makes the two idmapped mounts nspawn cannot make safely itself, then
/// becomes `systemd-nspawn`, so that nspawn is the unit's main process and the mounts vanish with the unit.
///
/// 1. The image, read-only, with on-disk ids 0–65535 shown as the workspace's range (`0 BASE 65536`): nspawn puts
///    the workspace's writable layer over it (`--overlay`) and runs with `--private-users=BASE:65536
///    --private-users-ownership=off`, so the image is shared and never written, and root inside is host uid BASE.
/// 2. The project directory, with the owner's uid and gid alone mapped (`U BASE+U 1`): inside it is theirs (uid U
///    is host BASE+U), on the host their files stay theirs, and root inside can create nothing there. nspawn's own
///    `--bind=…:idmap` would map the whole range one to one and give root inside host root's files.
/// Everything it is told comes from the broker, which checked it; it checks again what it opens.
struct ContainerRunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "container-run",
        abstract: "Run a container workspace (the main process of its unit, started by the broker).",
        shouldDisplay: false)

    @Option var workspace: String
    @Option var image: String
    @Option var uidBase: UInt32
    @Option var ownerUid: UInt32
    @Option var ownerGid: UInt32
    @Option var home: String
    @Option var project: String
    @Option var hostname: String
    @Option var network: String = ContainerNetwork.host.rawValue
    @Option var agent: String = Paths.agentProgram
    @Option var spec: String
    @Option var data: String
    @Option var runtime: String
    @Option var images: String = Paths.imageDirectory
    @Option var nspawn: String = Paths.nspawn

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    func run() throws {
        do {
            let argv = try prepare()
            let cArguments = argv.map { strdup($0) } + [nil]
            execv(argv[0], cArguments)
            throw Failure(description: "cannot run \(argv[0]): \(String(cString: strerror(errno)))")
        } catch {
            let line = Array("studio container-run: \(error)\n".utf8)
            _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
            throw ExitCode(1)
        }
    }

    /// Makes the mounts; nspawn's command line.
    func prepare() throws -> [String] {
        let imageName = try ImageName(image)
        guard ContainerRange.slot(of: uidBase) != nil, ownerUid < ContainerRange.size, ownerGid < ContainerRange.size else {
            throw Failure(description: "uid range \(uidBase) or owner \(ownerUid):\(ownerGid) out of range")
        }
        guard let net = ContainerNetwork(rawValue: network) else { throw Failure(description: "unknown network \(network)") }
        for path in [home, project, agent, spec, data, runtime, images, nspawn] where !path.hasPrefix("/") {
            throw Failure(description: "\(path) is not absolute")
        }
        if net == .private, !Self.hasCapability(12) {  // CAP_NET_ADMIN
            throw Failure(description: "Network=private needs a veth link, and root here may not make one (no CAP_NET_ADMIN: is this machine itself a container?); use Network=host or Network=none in the template")
        }
        let lower = "\(runtime)/lower", projectMount = "\(runtime)/project"
        for directory in [lower, projectMount] {
            guard mkdir(directory, 0o700) == 0 || errno == EEXIST else { throw Failure(description: "cannot create \(directory): \(String(cString: strerror(errno)))") }
        }

        let imageFD = open("\(images)/\(imageName.rawValue)", PathWalk.pathOnly | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard imageFD >= 0 else { throw Failure(description: "cannot open image \(imageName): \(String(cString: strerror(errno)))") }
        defer { close(imageFD) }
        var info = stat()
        guard fstat(imageFD, &info) == 0, info.st_uid == 0 else { throw Failure(description: "image \(imageName) is not root's") }
        try Self.idmappedMount(
            imageFD, at: lower, uidMap: "0 \(uidBase) \(ContainerRange.size)\n", gidMap: "0 \(uidBase) \(ContainerRange.size)\n",
            attributes: UInt64(CMOUNT_ATTR_IDMAP | CMOUNT_ATTR_RDONLY), what: "the image \(imageName)")

        let projectFD = PathWalk.openDirectoryNoLinks(project)
        guard projectFD >= 0 else { throw Failure(description: "cannot open the project directory \(project) without following links: \(String(cString: strerror(-projectFD)))") }
        defer { close(projectFD) }
        guard fstat(projectFD, &info) == 0, info.st_uid == ownerUid else {
            throw Failure(description: "the project directory \(project) is not owned by uid \(ownerUid)")
        }
        try Self.idmappedMount(
            projectFD, at: projectMount, uidMap: "\(ownerUid) \(uidBase + ownerUid) 1\n", gidMap: "\(ownerGid) \(uidBase + ownerGid) 1\n",
            attributes: UInt64(CMOUNT_ATTR_IDMAP | CMOUNT_ATTR_NOSUID | CMOUNT_ATTR_NODEV), what: "the project directory \(project)")

        var argv = [
            nspawn, "--quiet",
            "--directory=\(lower)", "--overlay=\(lower):\(data)/upper:/",
            "--private-users=\(uidBase):\(ContainerRange.size)", "--private-users-ownership=off",
            "--register=no", "--keep-unit", "--settings=no", "--link-journal=no",
            "--machine=\(hostname)",
            "--console=pipe", "--notify-ready=yes", "--kill-signal=SIGTERM",
            "--bind=\(data)/home:\(home)",
            "--bind=\(projectMount):\(project)",
            "--bind-ro=\(agent):\(Paths.containerAgentProgram)",
            "--bind-ro=\(spec):\(Paths.containerAgentSpec)",
            // The host's journal: the agent's log and activity records go where studio-idled reads them, with the
            // host pid and the unit journald itself saw.
            "--bind-ro=/run/systemd/journal/socket:/run/systemd/journal/socket",
            "--setenv=STUDIO_JOURNAL=native",
            "--chdir=\(project)",
        ]
        switch net {
        case .host: break
        case .private: argv.append("--network-veth")
        case .none: argv.append("--private-network")
        }
        argv += ["--", Paths.containerAgentProgram, "--spec", Paths.containerAgentSpec, "--listen-stdin"]
        return argv
    }

    /// Whether this process has capability `bit` in its effective set (from /proc/self/status).
    static func hasCapability(_ bit: Int) -> Bool {
        let fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 8192)
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { return false }
        let text = String(decoding: buffer[0..<count], as: UTF8.self)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("CapEff:") }),
              let mask = UInt64(line.dropFirst("CapEff:".count).filter { !$0.isWhitespace }, radix: 16)
        else { return false }
        return mask & (1 << UInt64(bit)) != 0
    }

    /// Attaches an idmapped copy of the directory `fd` at `target` (not recursive: mounts below it are not
    /// included, so every part shown is idmapped).
    static func idmappedMount(_ fd: Int32, at target: String, uidMap: String, gidMap: String, attributes: UInt64, what: String) throws {
        let userns = cmount_userns(uidMap, gidMap)
        guard userns >= 0 else { throw Failure(description: "cannot make a user namespace for \(what): \(String(cString: strerror(-userns)))") }
        defer { close(userns) }
        let tree = cmount_clone_tree(fd, "", 0)
        guard tree >= 0 else { throw Failure(description: "cannot clone the mount of \(what): \(String(cString: strerror(-tree)))") }
        defer { close(tree) }
        let set = cmount_setattr(tree, attributes, userns, 0)
        guard set == 0 else {
            let hint = -set == EINVAL ? " (its file system cannot be idmapped: container workspaces need ext4, xfs, btrfs or tmpfs)" : ""
            throw Failure(description: "cannot idmap \(what): \(String(cString: strerror(-set)))\(hint)")
        }
        let attached = cmount_attach(tree, target)
        guard attached == 0 else { throw Failure(description: "cannot mount \(what) at \(target): \(String(cString: strerror(-attached)))") }
    }
}
