#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Hummingbird
import StudioCore

/// A workspace as the web API shows it (docs/web-api.md).
struct WorkspaceView: ResponseEncodable, Equatable {
    // Absent figures are `null`, not missing keys (docs/web-api.md): hence the hand-written encoders.
    struct Limits: Encodable, Equatable {
        var memoryMaxBytes: UInt64?
        var cpus: Double?
        var tasksMax: UInt64?

        enum Keys: String, CodingKey { case memoryMaxBytes, cpus, tasksMax }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Keys.self)
            try container.encode(memoryMaxBytes, forKey: .memoryMaxBytes)
            try container.encode(cpus, forKey: .cpus)
            try container.encode(tasksMax, forKey: .tasksMax)
        }
    }
    struct Usage: Encodable, Equatable {
        var memoryBytes: UInt64?
        var cpuSeconds: Double?
        var tasks: UInt64?
        var oomKills: UInt64?

        enum Keys: String, CodingKey { case memoryBytes, cpuSeconds, tasks, oomKills }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Keys.self)
            try container.encode(memoryBytes, forKey: .memoryBytes)
            try container.encode(cpuSeconds, forKey: .cpuSeconds)
            try container.encode(tasks, forKey: .tasks)
            try container.encode(oomKills, forKey: .oomKills)
        }
    }
    struct NamedTerminal: Codable, Equatable {
        var name: String
        var title: String
    }
    struct App: Codable, Equatable {
        var name: String
    }

    var name: String
    var owner: String
    var state: String
    var projectDirectory: String
    var template: String
    var unit: String
    var createdAt: String
    var startedAt: String?
    var uptimeSeconds: Double?
    var limits: Limits
    var usage: Usage
    var terminals: [NamedTerminal]
    var apps: [App]

    enum CodingKeys: String, CodingKey {
        case name, owner, state, projectDirectory, template, unit, createdAt, startedAt, uptimeSeconds, limits, usage, terminals, apps
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(owner, forKey: .owner)
        try container.encode(state, forKey: .state)
        try container.encode(projectDirectory, forKey: .projectDirectory)
        try container.encode(template, forKey: .template)
        try container.encode(unit, forKey: .unit)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(startedAt, forKey: .startedAt)
        try container.encode(uptimeSeconds, forKey: .uptimeSeconds)
        try container.encode(limits, forKey: .limits)
        try container.encode(usage, forKey: .usage)
        try container.encode(terminals, forKey: .terminals)
        try container.encode(apps, forKey: .apps)
    }

    init(_ info: WorkspaceInfo, template: Template?, now: Double) {
        let running = info.state == "running" || info.state == "starting" || info.state == "stopping"
        let status = running ? info.unitStatus : nil
        name = info.definition.identity.name.rawValue
        owner = info.definition.identity.owner
        state = info.state
        projectDirectory = info.definition.projectDirectory
        self.template = info.definition.template
        unit = info.unit
        createdAt = Self.iso(info.definition.createdAt)
        let started = status?.activeEnterRealtimeMicroseconds.flatMap { $0 > 0 ? Double($0) / 1_000_000 : nil }
        startedAt = started.map(Self.iso)
        uptimeSeconds = started.map { max(0, (now - $0) * 10).rounded() / 10 }
        limits = Limits(memoryMaxBytes: info.limits.memoryMaxBytes, cpus: info.limits.cpus, tasksMax: info.limits.tasksMax)
        usage = Usage(
            memoryBytes: status?.memoryCurrentBytes, cpuSeconds: status?.cpuUsageNanoseconds.map { Double($0) / 1e9 },
            tasks: status?.tasksCurrent, oomKills: status.map { $0.oomKills ?? 0 })
        terminals = template?.terminals.map { NamedTerminal(name: $0.name, title: $0.name) } ?? []
        apps = template?.apps.map { App(name: $0.name) } ?? []
    }

    static func iso(_ seconds: Double) -> String {
        Date(timeIntervalSince1970: seconds.rounded(.down)).formatted(.iso8601)
    }
}

struct WorkspaceListView: ResponseEncodable {
    var workspaces: [WorkspaceView]
}

struct TemplateListView: ResponseEncodable {
    struct Item: Codable {
        var name: String
        var description: String
        var terminals: [WorkspaceView.NamedTerminal]
        var apps: [WorkspaceView.App]
    }
    var templates: [Item]
    var defaultTemplate: String

    init(_ list: TemplateList) {
        templates = list.templates.map {
            Item(name: $0.name, description: $0.description, terminals: $0.terminals.map { .init(name: $0.name, title: $0.name) }, apps: $0.apps.map { .init(name: $0.name) })
        }
        defaultTemplate = list.defaultTemplate
    }
}

struct SessionView: ResponseEncodable {
    var user: UserInfo
    var expiresAt: String
    var idleTimeoutSeconds: Double

    init(_ info: SessionInfo) {
        user = info.user
        expiresAt = WorkspaceView.iso(info.expiresAt)
        idleTimeoutSeconds = info.idleTimeoutSeconds
    }
}

struct TerminalListView: ResponseEncodable {
    struct Item: Codable {
        var name: String
        var command: String
        var clients: Int
        var cols: Int
        var rows: Int
    }
    var terminals: [Item]
}

struct LogLineView: Codable {
    var time: String
    var priority: Int
    var identifier: String
    var message: String

    init(_ line: LogLine) {
        time = Date(timeIntervalSince1970: Double(line.time) / 1_000_000).formatted(.iso8601)
        priority = line.priority
        identifier = line.identifier
        message = line.message
    }
}

struct LogsView: ResponseEncodable {
    var lines: [LogLineView]
}

extension UserInfo: ResponseEncodable {}

struct TicketView: ResponseEncodable {
    var url: String
}
