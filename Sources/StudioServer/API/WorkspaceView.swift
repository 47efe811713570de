#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Hummingbird
import StudioCore

/// A workspace as the web API shows it (docs/web-api.md).
struct WorkspaceView: ResponseEncodable, Equatable {
    // Absent figures are `null`, not missing keys (docs/web-api.md): optionals are `@Null`.
    struct Limits: Encodable, Equatable {
        @Null var memoryMaxBytes: UInt64?
        @Null var cpus: Double?
        @Null var tasksMax: UInt64?

    }
    struct Usage: Encodable, Equatable {
        @Null var memoryBytes: UInt64?
        @Null var cpuSeconds: Double?
        @Null var tasks: UInt64?
        @Null var oomKills: UInt64?

    }
    struct NamedTerminal: Codable, Equatable {
        var name: String
        var title: String
    }
    struct App: Codable, Equatable {
        var name: String
    }
    /// Idleness as studio-idled sees it, plus what the broker knows (the timeout in force, a keep just made, the last
    /// stop for idleness). Times are RFC 3339 like `createdAt`; what is not known is `null`.
    struct Idle: Encodable, Equatable {
        /// The idle timeout in force (the workspace's own, else its template's, else `[Idle] Timeout=`); 0: never.
        var timeoutSeconds: Double
        /// The last activity of a person, and what it was (`terminal`, `exec`, `app`, `api`).
        @Null var lastActivityAt: String?
        @Null var lastActivitySource: String?
        /// The end of the last check window in which it used more CPU than `[Idle] BusyCPU=`.
        @Null var lastWorkAt: String?
        /// Whether it is working now (the last check window was busy); null when not known.
        @Null var busy: Bool?
        /// Not stopped for idleness before this (a keep).
        @Null var keepUntil: String?
        /// What holds the deadline where it is: `started`, `interaction`, `work` or `keep`; null when not known.
        @Null var keptBy: String?
        /// Idle since (the last start, interaction or work); for a workspace stopped for idleness, since when it was idle.
        @Null var idleSince: String?
        /// When it is stopped if nothing happens; null: never (timeout 0), or not known (not running, or studio-idled
        /// has not looked yet: then keptBy is null too).
        @Null var stopsAt: String?
        /// When it was stopped for idleness (until it starts again).
        @Null var stoppedForIdleAt: String?


        /// From the broker's answer. `keepUntil`, when given, is a keep the broker has just made or ended (`.some(nil)`),
        /// newer than studio-idled's last look. The deadline is always worked out again by studio-idled's own rule, with
        /// the timeout in force and the newest keep.
        init(_ info: WorkspaceInfo, started: Double?, keepUntil newKeep: Double?? = nil) {
            timeoutSeconds = info.idleTimeoutSeconds
            var status = info.idle
            if var known = status {
                if let newKeep { known.keepUntil = newKeep }
                // The deadline by studio-idled's own rule from what it saw, with the timeout and keep in force now:
                // its last report may predate a change this request has just made (a new timeout, a keep).
                if let started {
                    let verdict = IdleTimeline(
                        startedAt: started, lastInteraction: known.lastActivity, lastWork: known.lastWork, keepUntil: known.keepUntil,
                        timeoutSeconds: info.idleTimeoutSeconds
                    ).verdict()
                    known.stopAt = verdict.stopAt
                    known.keptBy = verdict.reason
                    known.idleSince = verdict.lastSign
                }
                status = known
            }
            lastActivityAt = status?.lastActivity.map(WorkspaceView.iso)
            lastActivitySource = status?.lastActivitySource?.rawValue
            lastWorkAt = status?.lastWork.map(WorkspaceView.iso)
            busy = status?.busy
            keepUntil = (newKeep ?? status?.keepUntil).map(WorkspaceView.iso)
            keptBy = status?.keptBy.rawValue
            stopsAt = status?.stopAt.map(WorkspaceView.iso)
            if let stop = info.idleStop, info.state == "stopped" || info.state == "failed" {
                stoppedForIdleAt = WorkspaceView.iso(stop.at)
                idleSince = WorkspaceView.iso(stop.idleSince)
            } else {
                idleSince = status.map { WorkspaceView.iso($0.idleSince) }
            }
        }
    }

    var name: String
    var owner: String
    var state: String
    var projectDirectory: String
    var template: String
    var unit: String
    var createdAt: String
    @Null var startedAt: String?
    @Null var uptimeSeconds: Double?
    var limits: Limits
    var usage: Usage
    var terminals: [NamedTerminal]
    var apps: [App]
    var idle: Idle
    /// `host` or `container`: how its template runs it; null when its template has gone.
    @Null var backend: String?
    /// A container workspace's image (`/var/lib/machines/NAME`); null on the host.
    @Null var image: String?

    // Not shown: the uid range (`definition.uidBase`) and the agent's host pid are the host's business.

    /// `keepUntil`: a keep the broker has just made (or ended, `.some(nil)`), see ``Idle``.
    init(_ info: WorkspaceInfo, template: Template?, now: Double, keepUntil: Double?? = nil) {
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
        idle = Idle(info, started: started, keepUntil: keepUntil)
        backend = info.backend?.rawValue
        image = info.backend == .container ? info.image : nil
    }

    static func iso(_ seconds: Double) -> String {
        Date(timeIntervalSince1970: seconds.rounded(.down)).formatted(.iso8601)
    }
}

struct WorkspaceListView: ResponseEncodable {
    var workspaces: [WorkspaceView]
}

struct TemplateListView: ResponseEncodable {
    struct Item: Encodable, Equatable {
        var name: String
        var description: String
        var terminals: [WorkspaceView.NamedTerminal]
        var apps: [WorkspaceView.App]
        /// `host` or `container`.
        var backend: String
        /// A container template's image; null on the host.
        @Null var image: String?

    }
    var templates: [Item]
    var defaultTemplate: String

    init(_ list: TemplateList) {
        templates = list.templates.map {
            Item(
                name: $0.name, description: $0.description, terminals: $0.terminals.map { .init(name: $0.name, title: $0.name) },
                apps: $0.apps.map { .init(name: $0.name) }, backend: $0.backend.rawValue,
                image: $0.backend == .container ? $0.image?.rawValue : nil)
        }
        defaultTemplate = list.defaultTemplate
    }
}

/// `GET /api/v1/images`: the broker's image list, with every key present (null when not known) and the tree's
/// time in RFC 3339 like every time of the API.
struct ImageListView: ResponseEncodable, Equatable {
    struct Item: Encodable, Equatable {
        var name: String
        var path: String
        /// Its os-release's `PRETTY_NAME`; null when it has none.
        @Null var os: String?
        /// Whether a container workspace can start from it; if not, `problem` says why.
        var usable: Bool
        @Null var problem: String?
        /// The templates that name it.
        var templates: [String]
        /// When the tree was made (its directory's modification time).
        @Null var modifiedAt: String?

    }
    var images: [Item]

    init(_ list: ImageList) {
        images = list.images.map {
            Item(
                name: $0.name, path: $0.path, os: $0.os, usable: $0.usable, problem: $0.problem, templates: $0.templates,
                modifiedAt: $0.modifiedAt.map(WorkspaceView.iso))
        }
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
    struct Item: Codable, Equatable {
        var name: String
        var command: String
        var clients: Int
        var cols: Int
        var rows: Int
        /// Whether it runs as root inside a container workspace (`root=1`); false on the host.
        var root: Bool
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
