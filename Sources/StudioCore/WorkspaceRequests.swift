/// Names one workspace in a broker request: its name, and its owner when the caller is root acting for someone.
public struct WorkspaceTarget: Codable, Sendable, Equatable {
    /// The owner's user name; nil means the caller.
    public var owner: String?
    public var name: String

    public init(owner: String? = nil, name: String) {
        self.owner = owner
        self.name = name
    }
}

/// `stop`: the workspace, and why (studio-idled must say; the reason lands in the audit entry).
public struct StopParams: Codable, Sendable, Equatable {
    public var owner: String?
    public var name: String
    public var reason: String?

    /// The longest reason kept; a longer one is refused.
    public static let maxReasonLength = 500

    public init(owner: String? = nil, name: String, reason: String? = nil) {
        self.owner = owner
        self.name = name
        self.reason = reason
    }

    public var target: WorkspaceTarget { WorkspaceTarget(owner: owner, name: name) }

    /// The reason as it may be recorded: one line of printable text, at most ``maxReasonLength`` characters.
    public static func checkedReason(_ reason: String?) throws(RequestError) -> String? {
        guard let reason, !reason.isEmpty else { return nil }
        guard reason.count <= maxReasonLength, !reason.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw .badRequest("a stop reason must be one line of at most \(maxReasonLength) characters without control characters")
        }
        return reason
    }
}

/// `create` and `start` (which creates on first use).
public struct CreateParams: Codable, Sendable, Equatable {
    public var owner: String?
    public var name: String
    /// Absolute path; required to create, ignored when the workspace exists.
    public var projectDirectory: String?
    public var template: String?
    public var limits: ResourceLimits?
    /// Make the project directory (for the owner, inside a directory they own) when it is missing.
    public var createDirectory: Bool?

    public init(
        owner: String? = nil, name: String, projectDirectory: String? = nil, template: String? = nil, limits: ResourceLimits? = nil,
        createDirectory: Bool? = nil
    ) {
        self.owner = owner
        self.name = name
        self.projectDirectory = projectDirectory
        self.template = template
        self.limits = limits
        self.createDirectory = createDirectory
    }

    public var target: WorkspaceTarget { WorkspaceTarget(owner: owner, name: name) }
}

/// `list`.
public struct ListParams: Codable, Sendable, Equatable {
    /// Another user's workspaces (root only).
    public var owner: String?
    /// Everyone's workspaces (root only).
    public var all: Bool

    public init(owner: String? = nil, all: Bool = false) {
        self.owner = owner
        self.all = all
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        owner = try container.decodeIfPresent(String.self, forKey: .owner)
        all = try container.decodeIfPresent(Bool.self, forKey: .all) ?? false
    }
}

/// `set`: new limits for a workspace, applied to the running unit at once.
public struct SetParams: Codable, Sendable, Equatable {
    public var owner: String?
    public var name: String
    public var limits: ResourceLimits

    public init(owner: String? = nil, name: String, limits: ResourceLimits) {
        self.owner = owner
        self.name = name
        self.limits = limits
    }

    public var target: WorkspaceTarget { WorkspaceTarget(owner: owner, name: name) }
}

/// `logs`: the unit's journal.
public struct LogsParams: Codable, Sendable, Equatable {
    public var owner: String?
    public var name: String
    /// How many earlier entries to show first.
    public var lines: Int
    /// Keep streaming new entries until the client goes away.
    public var follow: Bool
    /// How many earlier entries a request may ask for.
    public static let linesRange = 0...10_000

    public init(owner: String? = nil, name: String, lines: Int = 50, follow: Bool = false) {
        self.owner = owner
        self.name = name
        self.lines = lines
        self.follow = follow
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        owner = try container.decodeIfPresent(String.self, forKey: .owner)
        name = try container.decode(String.self, forKey: .name)
        lines = try container.decodeIfPresent(Int.self, forKey: .lines) ?? 50
        follow = try container.decodeIfPresent(Bool.self, forKey: .follow) ?? false
    }

    public var target: WorkspaceTarget { WorkspaceTarget(owner: owner, name: name) }
}

/// A workspace with its state: the stored definition, what systemd says, and the limits in force.
public struct WorkspaceInfo: Codable, Sendable, Equatable {
    public var definition: WorkspaceDefinition
    public var unit: String
    /// `running`, `starting`, `stopping`, `stopped` or `failed`.
    public var state: String
    /// systemd's view (live usage and limits) while the unit is loaded.
    public var unitStatus: UnitStatus?
    /// Limits the unit gets on its next start (and has now, unless changed outside Studio).
    public var limits: ResourceLimits
    public var agentSocket: String

    public init(definition: WorkspaceDefinition, unitStatus: UnitStatus?, limits: ResourceLimits) {
        self.definition = definition
        self.unit = definition.identity.unitName
        self.unitStatus = unitStatus
        self.limits = limits
        self.agentSocket = definition.identity.agentSocket
        self.state = switch unitStatus?.activeState {
        case "active", "reloading": "running"
        case "activating": "starting"
        case "deactivating": "stopping"
        case "failed": "failed"
        default: "stopped"
        }
    }
}

/// The answer to `start`, `restart` and `create`.
public struct StartResult: Codable, Sendable, Equatable {
    public var workspace: WorkspaceInfo
    /// The workspace did not exist and was created by this request.
    public var created: Bool
    /// It was running already; nothing was started.
    public var alreadyRunning: Bool

    public init(workspace: WorkspaceInfo, created: Bool, alreadyRunning: Bool) {
        self.workspace = workspace
        self.created = created
        self.alreadyRunning = alreadyRunning
    }
}

/// The answer to `list`.
public struct WorkspaceList: Codable, Sendable, Equatable {
    public var workspaces: [WorkspaceInfo]

    public init(workspaces: [WorkspaceInfo]) {
        self.workspaces = workspaces
    }
}

/// The answer to `templates`.
public struct TemplateList: Codable, Sendable, Equatable {
    public var templates: [Template]
    public var defaultTemplate: String

    public init(templates: [Template], defaultTemplate: String) {
        self.templates = templates
        self.defaultTemplate = defaultTemplate
    }
}

/// One journal entry streamed by `logs`.
public struct LogLine: Codable, Sendable, Equatable {
    /// Microseconds since the epoch.
    public var time: UInt64
    public var priority: Int
    public var identifier: String
    public var pid: String
    public var message: String

    public init(time: UInt64, priority: Int, identifier: String, pid: String, message: String) {
        self.time = time
        self.priority = priority
        self.identifier = identifier
        self.pid = pid
        self.message = message
    }
}

/// The last answer of a `logs` stream that is not followed.
public struct LogsEnd: Codable, Sendable, Equatable {
    public var end: Bool

    public init() { end = true }
}

/// The answer to `stop` and `delete`.
public struct Done: Codable, Sendable, Equatable {
    /// What happened, in a sentence.
    public var message: String

    public init(_ message: String) {
        self.message = message
    }
}
