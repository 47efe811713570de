import ArgumentParser
import StudioCore
#if canImport(Glibc)
import Glibc
#endif

/// The current directory, for `start` and `create` without `--dir`.
func currentDirectory() -> String {
    guard let path = getcwd(nil, 0) else { return "." }
    defer { free(path) }
    return String(cString: path)
}

/// An absolute form of a path given on the command line.
func absolutePath(_ path: String) -> String {
    path.hasPrefix("/") ? path : currentDirectory() + "/" + path
}

struct CreateOptions: ParsableArguments {
    @Option(name: .customLong("dir"), help: ArgumentHelp("The project directory (default: the current directory).", valueName: "path"))
    var directory: String?

    @Option(help: ArgumentHelp("The template (see `studioctl templates`).", valueName: "name"))
    var template: String?

    @OptionGroup var limits: LimitOptions

    func params(_ workspace: WorkspaceReference) throws -> CreateParams {
        let target = try workspace.target()
        return CreateParams(
            owner: target.owner, name: target.name,
            projectDirectory: absolutePath(directory ?? currentDirectory()), template: template,
            limits: limits.isEmpty ? nil : try limits.limits())
    }
}

struct Create: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create a workspace for a project directory, without starting it.")

    @OptionGroup var arguments: WorkspaceArguments
    @OptionGroup var options: CreateOptions

    func run() async throws {
        let result = try await BrokerCall(sockets: arguments.sockets).callAndExit(.create, options.params(arguments.workspace), as: StartResult.self)
        print("created \(result.workspace.definition.identity.displayName) for \(result.workspace.definition.projectDirectory)")
    }
}

struct Start: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start a workspace, creating it on first use.",
        discussion: "A new workspace gets the current directory (or --dir) as its project directory.")

    @OptionGroup var arguments: WorkspaceArguments
    @OptionGroup var options: CreateOptions

    func run() async throws {
        let result = try await BrokerCall(sockets: arguments.sockets).callAndExit(.start, options.params(arguments.workspace), as: StartResult.self)
        let workspace = result.workspace
        let name = workspace.definition.identity.displayName
        if result.alreadyRunning {
            print("\(name) is already running")
        } else {
            print("\(result.created ? "created and started" : "started") \(name) (\(workspace.unit))")
        }
        print("  shell: studioctl shell \(arguments.workspace.text)")
    }
}

struct Stop: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Stop a workspace (its files stay as they are).")

    @OptionGroup var arguments: WorkspaceArguments

    func run() async throws {
        print(try await BrokerCall(sockets: arguments.sockets).callAndExit(.stop, try arguments.target(), as: Done.self).message)
    }
}

struct Restart: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Stop and start a workspace.")

    @OptionGroup var arguments: WorkspaceArguments

    func run() async throws {
        let result = try await BrokerCall(sockets: arguments.sockets).callAndExit(.restart, try arguments.target(), as: StartResult.self)
        print("restarted \(result.workspace.definition.identity.displayName)")
    }
}

struct Delete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete a workspace: stop it and forget it.",
        discussion: "The project directory is kept, unless --purge is given.")

    @OptionGroup var arguments: WorkspaceArguments

    @Flag(help: "Also delete the project directory and everything in it.")
    var purge = false

    @Flag(help: "Do not ask before --purge deletes files.")
    var yes = false

    func run() async throws {
        let call = BrokerCall(sockets: arguments.sockets)
        var purgeAs: (directory: String, owner: UserAccount)?
        if purge {
            let info = try await call.callAndExit(.status, try arguments.target(), as: WorkspaceInfo.self)
            let identity = info.definition.identity
            guard let owner = UserAccount.withUID(identity.uid), owner.name == identity.owner else {
                printError("studioctl: the owner of \(identity.displayName) (uid \(identity.uid)) is no longer on this machine; delete without --purge and remove \(info.definition.projectDirectory) by hand")
                throw ExitCode(66)
            }
            try confirmPurge(info.definition.projectDirectory, owner: owner)
            purgeAs = (info.definition.projectDirectory, owner)
        }
        print(try await call.callAndExit(.delete, try arguments.target(), as: Done.self).message)
        if let (directory, owner) = purgeAs {
            try Purge.remove(directory, as: owner)
            print("removed \(directory)")
        }
    }

    func confirmPurge(_ directory: String, owner: UserAccount) throws {
        if directory == owner.home || directory == "/" || directory == UserAccount.withUID(getuid())?.home {
            printError("studioctl: refusing to purge \(directory): it is a home or root directory; delete without --purge")
            throw ExitCode(65)
        }
        if yes { return }
        try Confirm.ask(
            "Delete \(directory) and everything in it?", notAtTerminal: "--purge deletes \(directory)", declined: "nothing deleted")
    }
}

/// Removes a workspace's project directory with the rights of its owner, never more: `rm -rf --one-file-system`
/// in a child process that runs as the owner (through `setpriv` when root asks). rm walks the tree by descriptor
/// (openat/unlinkat) and never follows a symbolic link inside it; a link the owner put on the way to the directory
/// leads, at worst, to files the owner could remove anyway.
enum Purge {
    /// studioctl(1): the workspace was deleted but its files could not all be removed.
    static let incomplete = ExitCode(74)

    static func remove(_ path: String, as owner: UserAccount) throws {
        let rm = ["/bin/rm", "-rf", "--one-file-system", "--preserve-root=all", "--", path]
        let argv: [String]
        if getuid() == owner.uid {
            argv = rm
        } else if getuid() == 0 {
            argv = ["/usr/bin/setpriv", "--reuid=\(owner.uid)", "--regid=\(owner.gid)", "--init-groups", "--reset-env", "--"] + rm
        } else {
            printError("studioctl: only \(owner.name) or root can remove \(path)")
            throw incomplete
        }
        // From "/", which every user may enter (the caller's working directory may be closed to the owner). What
        // studioctl printed so far goes out before rm's own messages.
        _ = chdir("/")
        fflush(nil)  // every open stream, stdout among them
        let status = try run(argv)
        guard status == 0 else {
            printError("studioctl: could not remove all of \(path) as \(owner.name) (rm exited with \(status)); what is left is as it was")
            throw incomplete
        }
    }

    /// Runs argv (posix_spawn, stdio inherited) and returns its exit status.
    static func run(_ argv: [String]) throws -> Int32 {
        var pid: pid_t = 0
        let cArgs = argv.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        let result = posix_spawn(&pid, argv[0], nil, nil, cArgs, environ)
        guard result == 0 else {
            printError("studioctl: cannot run \(argv[0]): \(String(cString: strerror(result)))")
            throw incomplete
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw incomplete }
        }
        // WIFEXITED / WEXITSTATUS, which Swift does not import.
        return status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }
}

struct Reset: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Reset a stopped container workspace to its image.",
        discussion: """
            Drops the workspace's own layer: everything root installed or changed inside the container (apt packages, \
            /etc, /usr/local …). The next start begins again from the image. The project directory is never touched; \
            the workspace's home is kept unless --home is given. Host workspaces have nothing to reset.
            """)

    @OptionGroup var arguments: WorkspaceArguments

    @Flag(help: "Also drop the workspace's home inside the container (dotfiles, shell history).")
    var home = false

    @Flag(help: "Do not ask first.")
    var yes = false

    func run() async throws {
        let target = try arguments.target()
        let call = BrokerCall(sockets: arguments.sockets)
        let what = home ? "the workspace's own layer and its home" : "the workspace's own layer (what root installed or changed inside)"
        if !yes {
            // Not worth asking about a workspace the broker will refuse: running, or not a container.
            let info = try await call.callAndExit(.status, target, as: WorkspaceInfo.self)
            if info.state != "stopped", info.state != "failed" {
                printError("studioctl: workspace \"\(target.name)\" is \(info.state); stop it first (`studioctl stop \(target.name)`), then reset it")
                throw ExitCode(75)
            }
            try Confirm.ask(
                "Drop \(what) of \(target.name)? The project directory is kept.", notAtTerminal: "reset drops \(what) of \(target.name)",
                declined: "nothing dropped")
        }
        let info = try await call.callAndExit(.reset, ResetParams(target: target, home: home), as: WorkspaceInfo.self)
        print("reset \(info.definition.identity.displayName): dropped \(what); the next start begins from image \(info.image ?? "?")")
    }
}

/// Asks before a command removes something: `[y/N]` at a terminal (anything but y ends the command with success and
/// `declined`); elsewhere it refuses with exit 64, saying what would be removed and that --yes confirms.
enum Confirm {
    static func ask(_ question: String, notAtTerminal: String, declined: String) throws {
        guard isatty(STDIN_FILENO) != 0 else {
            printError("studioctl: \(notAtTerminal); add --yes to confirm when not at a terminal")
            throw ExitCode(64)
        }
        print("\(question) [y/N] ", terminator: "")
        guard let answer = readLine(), answer.lowercased().hasPrefix("y") else {
            print(declined)
            throw ExitCode.success
        }
    }
}
