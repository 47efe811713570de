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

struct Create: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create a workspace for a project directory, without starting it.")

    @OptionGroup var arguments: WorkspaceArguments
    @OptionGroup var options: CreateOptions

    func run() throws {
        let result = try BrokerCall(sockets: arguments.sockets).callAndExit("create", options.params(arguments.workspace), as: StartResult.self)
        print("created \(result.workspace.definition.identity.displayName) for \(result.workspace.definition.projectDirectory)")
    }
}

struct Start: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start a workspace, creating it on first use.",
        discussion: "A new workspace gets the current directory (or --dir) as its project directory.")

    @OptionGroup var arguments: WorkspaceArguments
    @OptionGroup var options: CreateOptions

    func run() throws {
        let result = try BrokerCall(sockets: arguments.sockets).callAndExit("start", options.params(arguments.workspace), as: StartResult.self)
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

struct Stop: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Stop a workspace (its files stay as they are).")

    @OptionGroup var arguments: WorkspaceArguments

    func run() throws {
        print(try BrokerCall(sockets: arguments.sockets).callAndExit("stop", try arguments.target(), as: Done.self).message)
    }
}

struct Restart: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Stop and start a workspace.")

    @OptionGroup var arguments: WorkspaceArguments

    func run() throws {
        let result = try BrokerCall(sockets: arguments.sockets).callAndExit("restart", try arguments.target(), as: StartResult.self)
        print("restarted \(result.workspace.definition.identity.displayName)")
    }
}

struct Delete: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete a workspace: stop it and forget it.",
        discussion: "The project directory is kept, unless --purge is given.")

    @OptionGroup var arguments: WorkspaceArguments

    @Flag(help: "Also delete the project directory and everything in it.")
    var purge = false

    @Flag(help: "Do not ask before --purge deletes files.")
    var yes = false

    func run() throws {
        let call = BrokerCall(sockets: arguments.sockets)
        var directory: String?
        if purge {
            let info = try call.callAndExit("status", try arguments.target(), as: WorkspaceInfo.self)
            directory = info.definition.projectDirectory
            try confirmPurge(directory!)
        }
        print(try call.callAndExit("delete", try arguments.target(), as: Done.self).message)
        if let directory {
            try Purge.remove(directory)
            print("removed \(directory)")
        }
    }

    func confirmPurge(_ directory: String) throws {
        if let user = UserAccount.withUID(getuid()), directory == user.home || directory == "/" {
            printError("studioctl: refusing to purge \(directory): it is a home or root directory; delete without --purge")
            throw ExitCode(65)
        }
        if yes { return }
        guard isatty(STDIN_FILENO) != 0 else {
            printError("studioctl: --purge deletes \(directory); add --yes to confirm when not at a terminal")
            throw ExitCode(64)
        }
        print("Delete \(directory) and everything in it? [y/N] ", terminator: "")
        guard let answer = readLine(), answer.lowercased().hasPrefix("y") else {
            print("nothing deleted")
            throw ExitCode.success
        }
    }
}

/// Removes a directory tree as the calling user (never with the broker's privileges).
enum Purge {
    static func remove(_ path: String) throws {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            guard let directory = opendir(path) else { throw failure(path) }
            while let entry = readdir(directory) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                if name == "." || name == ".." { continue }
                do { try remove(path + "/" + name) } catch { closedir(directory); throw error }
            }
            closedir(directory)
            guard rmdir(path) == 0 else { throw failure(path) }
        } else {
            guard unlink(path) == 0 else { throw failure(path) }
        }
    }

    static func failure(_ path: String) -> any Error {
        printError("studioctl: cannot remove \(path): \(String(cString: strerror(errno)))")
        return ExitCode.failure
    }
}
