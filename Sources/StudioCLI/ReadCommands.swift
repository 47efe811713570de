import ArgumentParser
import StudioCore
#if canImport(Glibc)
import Glibc
#endif

struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List your workspaces and whether they run.")

    @Flag(help: "Everyone's workspaces (root only).")
    var all = false

    @Option(help: ArgumentHelp("Another user's workspaces (root only).", valueName: "user"))
    var owner: String?

    @Flag(help: "Print JSON instead of text.")
    var json = false

    @OptionGroup var sockets: SocketOptions

    func run() async throws {
        let list = try await BrokerCall(sockets: sockets).callAndExit(.list, ListParams(owner: owner, all: all), as: WorkspaceList.self)
        if json { return print(try JSONOutput.encode(list)) }
        if list.workspaces.isEmpty {
            return print("no workspaces; `studioctl start NAME` in a project directory makes one")
        }
        let rows = list.workspaces.map { info -> [String] in
            let identity = info.definition.identity
            return [
                all || owner != nil ? identity.displayName : identity.name.rawValue, info.state, info.definition.template,
                Format.memory(used: info.unitStatus?.memoryCurrentBytes, limit: info.limits.memoryMaxBytes, running: info.state == "running"),
                info.limits.cpus.map(LimitsPolicy.formatCPUs) ?? "-", info.definition.projectDirectory,
            ]
        }
        print(Format.table(header: ["NAME", "STATE", "TEMPLATE", "MEMORY", "CPUS", "PROJECT"], rows: rows))
    }
}

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a workspace's state, limits and live usage; without a name, whether Studio's daemons answer.")

    @Argument(help: ArgumentHelp("The workspace: NAME, or OWNER/NAME (root).", valueName: "name"))
    var workspace: WorkspaceReference?

    @Flag(help: "Print JSON instead of text.")
    var json = false

    @OptionGroup var sockets: SocketOptions

    func run() async throws {
        guard let workspace else { return try await DaemonStatus.run(sockets: sockets, json: json) }
        let target = try workspace.target()
        let info = try await BrokerCall(sockets: sockets).callAndExit(.status, target, as: WorkspaceInfo.self)
        if json { return print(try JSONOutput.encode(info)) }
        print(Format.status(info, now: Double(time(nil))))
    }
}

struct Set: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set",
        abstract: "Change a workspace's limits; a running workspace gets them at once.")

    @OptionGroup var arguments: WorkspaceArguments
    @OptionGroup var limits: LimitOptions

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func validate() throws {
        if limits.isEmpty { throw ValidationError("say what to change: --memory, --cpus and/or --tasks") }
    }

    func run() async throws {
        let target = try arguments.target()
        let params = SetParams(owner: target.owner, name: target.name, limits: try limits.limits())
        let info = try await BrokerCall(sockets: arguments.sockets).callAndExit(.set, params, as: WorkspaceInfo.self)
        if json { return print(try JSONOutput.encode(info)) }
        print("\(info.definition.identity.displayName): \(Format.limits(info.limits))\(info.state == "running" ? " (applied to the running workspace)" : "")")
    }
}

struct Templates: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the workspace templates.")

    @Flag(help: "Print JSON instead of text.")
    var json = false

    @OptionGroup var sockets: SocketOptions

    func run() async throws {
        let list = try await BrokerCall(sockets: sockets).callAndExit(.templates, NoParams(), as: TemplateList.self)
        if json { return print(try JSONOutput.encode(list)) }
        let rows = list.templates.map { template in
            [template.name + (template.name == list.defaultTemplate ? " (default)" : ""), template.backend.rawValue,
             Format.limits(template.limits), template.apps.map(\.name).joined(separator: ",").ifEmpty("-"), template.description]
        }
        print(Format.table(header: ["NAME", "BACKEND", "LIMITS", "APPS", "DESCRIPTION"], rows: rows))
    }
}

struct Logs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a workspace's journal (its unit's log).")

    @OptionGroup var arguments: WorkspaceArguments

    @Flag(name: .shortAndLong, help: "Keep showing new entries until interrupted.")
    var follow = false

    @Option(name: [.customShort("n"), .long], help: "How many earlier entries to show.")
    var lines = 50

    @Flag(help: "Print one JSON object per entry.")
    var json = false

    func run() async throws {
        let target = try arguments.target()
        let params = LogsParams(owner: target.owner, name: target.name, lines: lines, follow: follow)
        try await BrokerCall(sockets: arguments.sockets).stream(.logs, params, as: LogLine.self) { log in
            print(json ? try JSONOutput.line(log) : Format.logLine(log))
            fflush(nil)
            return true
        }
    }
}

extension String {
    func ifEmpty(_ replacement: String) -> String { isEmpty ? replacement : self }
}
