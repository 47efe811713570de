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
        let now = Double(time(nil))
        let rows = list.workspaces.map { info -> [String] in
            let identity = info.definition.identity
            return [
                all || owner != nil ? identity.displayName : identity.name.rawValue, info.state, info.definition.template,
                Format.memory(used: info.unitStatus?.memoryCurrentBytes, limit: info.limits.memoryMaxBytes, running: info.state == "running"),
                info.limits.cpus.map(LimitsPolicy.formatCPUs) ?? "-", Format.idleColumn(info, now: now),
                info.definition.projectDirectory,
            ]
        }
        print(Format.table(header: ["NAME", "STATE", "TEMPLATE", "MEMORY", "CPUS", "IDLE STOP", "PROJECT"], rows: rows))
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
        abstract: "Change a workspace's limits (a running workspace gets them at once) or its idle timeout.")

    @OptionGroup var arguments: WorkspaceArguments
    @OptionGroup var limits: LimitOptions

    @Option(help: ArgumentHelp(
        "Stop it after this long without interaction or CPU work, e.g. 30min or 4h; 0 never stops it.", valueName: "duration"))
    var idleTimeout: String?

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func validate() throws {
        if limits.isEmpty, idleTimeout == nil { throw ValidationError("say what to change: --memory, --cpus, --tasks and/or --idle-timeout") }
    }

    func run() async throws {
        let target = try arguments.target()
        var seconds: Double?
        if let idleTimeout {
            guard let parsed = DurationParser.seconds(idleTimeout), parsed == 0 || SetParams.idleTimeoutRange.contains(parsed) else {
                throw badInput("--idle-timeout \(idleTimeout) is not an idle timeout; write 0 (never) or from 1min to 365d, e.g. 30min or 4h")
            }
            seconds = parsed
        }
        let params = SetParams(owner: target.owner, name: target.name, limits: try limits.limits(), idleTimeoutSeconds: seconds)
        let info = try await BrokerCall(sockets: arguments.sockets).callAndExit(.set, params, as: WorkspaceInfo.self)
        if json { return print(try JSONOutput.encode(info)) }
        var parts: [String] = []
        if !limits.isEmpty { parts.append(Format.limits(info.limits) + (info.state == "running" ? " (applied to the running workspace)" : "")) }
        if seconds != nil { parts.append("idle timeout \(Format.idleTimeout(info.idleTimeoutSeconds))") }
        print("\(info.definition.identity.displayName): \(parts.joined(separator: "; "))")
    }
}

struct Keep: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Keep a running workspace from being stopped for idleness for a while (--for 0 ends it).")

    @OptionGroup var arguments: WorkspaceArguments

    @Option(name: .customLong("for"), help: ArgumentHelp("How long, e.g. 3h or 90min (at most 30d); 0 ends an earlier keep.", valueName: "duration"))
    var duration: String

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func run() async throws {
        let target = try arguments.target()
        guard let seconds = DurationParser.seconds(duration), KeepParams.range.contains(seconds) else {
            throw badInput("--for \(duration) is not a time span from 0 to 30d; write e.g. 3h or 90min")
        }
        let result = try await BrokerCall(sockets: arguments.sockets).callAndExit(
            .keep, KeepParams(owner: target.owner, name: target.name, seconds: seconds), as: KeepResult.self)
        if json { return print(try JSONOutput.encode(result)) }
        let name = result.workspace.definition.identity.displayName
        if let until = result.keepUntil {
            print("\(name): kept until \(Format.clock(until)) (\(formatUptime(seconds))); it is not stopped for idleness before then")
        } else {
            print("\(name): keep ended; it is stopped after \(Format.idleTimeout(result.workspace.idleTimeoutSeconds)) without interaction or CPU work")
        }
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
