/// Studio's settings from `/etc/studio/studio.conf` and its drop-ins, with defaults for what is not set.
public struct StudioConfig: Sendable, Equatable {
    /// Seconds studiod stays up with no open connection before it exits (socket activation brings it back);
    /// 0 means never exit.
    public var serverIdleExitSeconds: Double = 120
    /// Seconds the broker stays up with no open connection before it exits; 0 means never exit.
    public var brokerIdleExitSeconds: Double = 60

    /// Limits every workspace gets unless its template or its own settings say otherwise.
    public var defaultLimits = ResourceLimits(
        memoryMaxBytes: 4 << 30, cpus: 2, cpuWeight: 100, tasksMax: 4096, ioWeight: 100)
    /// The most any workspace may have; nil parts are unbounded (the `studio.slice` total cap still applies).
    public var ceilings = ResourceLimits()
    /// The template used when none is named.
    public var defaultTemplate = "default"
    /// When set, only members of this group get workspaces (besides being regular login accounts).
    public var accessGroup: String?

    /// A running workspace without interaction or CPU work for this long is stopped ([Idle] Timeout=); 0: never.
    public var idleTimeoutSeconds: Double = 2 * 3600
    /// More CPU than this (in CPUs, 0.10 = 10% of one) over a check window is work ([Idle] BusyCPU=).
    public var busyCPU: Double = BusyMeter.defaultThreshold
    /// How studio-idled reads a workspace's CPU time ([Idle] CPUMeasure=): `auto`, the kernel's cgroup v2 counter
    /// where there is one, else the times of the unit's processes; `processes`, always the latter.
    public var cpuMeasure = "auto"

    /// A web login ends this long after its last request ([Web] SessionIdleTimeout=).
    public var sessionIdleSeconds: Double = 8 * 3600
    /// A web login ends this long after it began, used or not ([Web] SessionLifetime=).
    public var sessionLifetimeSeconds: Double = 7 * 86400
    /// The dashboard's public origin (e.g. https://box.tailnet.ts.net); nil: the one each request was addressed to.
    public var publicURL: String?
    /// The apps origin's public URL (e.g. https://box.tailnet.ts.net:8443); nil: derived from the dashboard's.
    public var appsURL: String?

    public init() {}

    /// The keys a file may set, by section, with how each is applied.
    typealias Apply = @Sendable (inout StudioConfig, ConfigFile.Entry) throws(ConfigError) -> Void
    static let keys: [String: [String: Apply]] = [
        "Server": [
            "IdleExitSec": { config, entry throws(ConfigError) in config.serverIdleExitSeconds = try entry.duration() },
        ],
        "Broker": [
            "IdleExitSec": { config, entry throws(ConfigError) in config.brokerIdleExitSeconds = try entry.duration() },
        ],
        "Web": [
            "SessionIdleTimeout": { config, entry throws(ConfigError) in
                config.sessionIdleSeconds = try entry.duration(atLeast: 60)
            },
            "SessionLifetime": { config, entry throws(ConfigError) in
                config.sessionLifetimeSeconds = try entry.duration(atLeast: 60)
            },
            "PublicURL": { config, entry throws(ConfigError) in config.publicURL = try entry.origin() },
            "AppsURL": { config, entry throws(ConfigError) in config.appsURL = try entry.origin() },
        ],
        "Idle": [
            "Timeout": { config, entry throws(ConfigError) in config.idleTimeoutSeconds = try entry.idleTimeout() },
            "BusyCPU": { config, entry throws(ConfigError) in config.busyCPU = try entry.cpuShare() },
            "CPUMeasure": { config, entry throws(ConfigError) in
                guard ["auto", "processes"].contains(entry.value) else {
                    throw ConfigError(path: entry.path, line: entry.line, message: "CPUMeasure=\(entry.value) is not known; write auto (the cgroup's counter where there is one) or processes")
                }
                config.cpuMeasure = entry.value
            },
        ],
        "Access": [
            "Group": { config, entry throws(ConfigError) in
                guard entry.value.isEmpty || UserName.isValid(entry.value) else {
                    throw ConfigError(path: entry.path, line: entry.line, message: "Group=\(entry.value) is not a group name")
                }
                config.accessGroup = entry.value.isEmpty ? nil : entry.value
            },
        ],
        "Workspaces": [
            "DefaultTemplate": { config, entry throws(ConfigError) in
                _ = try entry.itemName(in: "Workspaces", prefix: "")
                config.defaultTemplate = entry.value
            },
        ],
    ]

    /// Sections whose keys are resource limits (see `ResourceLimits.apply`).
    static let limitSections = ["Limits", "Ceilings"]

    /// Applies every entry of `file` in order; unknown sections and keys are errors, so that typos are caught.
    public init(file: ConfigFile) throws(ConfigError) {
        let known = Array(Self.keys.keys) + Self.limitSections
        try file.checkSections(known: known.sorted().map { "[\($0)]" }.joined(separator: ", ")) { known.contains($0) }
        for entry in file.entries {
            if entry.section == "Limits" {
                try defaultLimits.apply(entry)
                continue
            }
            if entry.section == "Ceilings" {
                try ceilings.apply(entry)
                continue
            }
            guard let section = Self.keys[entry.section] else {
                let known = (Array(Self.keys.keys) + Self.limitSections).sorted().map { "[\($0)]" }.joined(separator: ", ")
                throw ConfigError(path: entry.path, line: entry.line, message: "unknown section [\(entry.section)]; known sections: \(known)")
            }
            guard let apply = section[entry.key] else {
                let known = section.keys.sorted().joined(separator: ", ")
                throw ConfigError(path: entry.path, line: entry.line, message: "unknown key \"\(entry.key)\" in [\(entry.section)]; known keys: \(known)")
            }
            try apply(&self, entry)
        }
    }
}

extension ConfigFile.Entry {
    /// The value as a time span in seconds, or an error that names the key and shows valid forms.
    func duration() throws(ConfigError) -> Double {
        guard let seconds = DurationParser.seconds(value), seconds >= 0 else {
            throw ConfigError(path: path, line: line, message: "\(key)=\(value) is not a time span; write e.g. 90s, 5min or 2h")
        }
        return seconds
    }

    /// An idle timeout: 0 (never) or from 1 min to 365 days.
    func idleTimeout() throws(ConfigError) -> Double {
        let seconds = try duration()
        guard seconds == 0 || SetParams.idleTimeoutRange.contains(seconds) else {
            throw ConfigError(path: path, line: line, message: "\(key)=\(value) is out of range; write 0 (never) or from 1min to 365d")
        }
        return seconds
    }

    /// A share of CPU time: `10%` (of one CPU) or `0.1` (CPUs), more than 0 and at most 64 CPUs.
    func cpuShare() throws(ConfigError) -> Double {
        let text = value.trimmingWhitespace()
        let share: Double? = text.hasSuffix("%") ? Double(text.dropLast()).map { $0 / 100 } : Double(text)
        guard let share, share.isFinite, share > 0, share <= 64 else {
            throw ConfigError(path: path, line: line, message: "\(key)=\(value) is not a share of CPU; write e.g. 10% (of one CPU) or 0.1")
        }
        return share
    }

    /// A duration of at least `minimum` seconds.
    func duration(atLeast minimum: Double) throws(ConfigError) -> Double {
        let seconds = try duration()
        guard seconds >= minimum else {
            throw ConfigError(path: path, line: line, message: "\(key)=\(value) is too short; it must be at least \(Int(minimum)) s")
        }
        return seconds
    }

    /// An origin: `http://` or `https://`, a host and an optional port, nothing after it (a trailing `/` is
    /// dropped); empty means unset.
    func origin() throws(ConfigError) -> String? {
        if value.isEmpty { return nil }
        var text = value
        if text.hasSuffix("/") { text.removeLast() }
        guard let origin = WebOrigin(text), origin.description == text.lowercased() else {
            throw ConfigError(path: path, line: line, message: "\(key)=\(value) is not an origin; write e.g. https://box.tailnet.ts.net or https://box.tailnet.ts.net:8443 (no path)")
        }
        return origin.description
    }
}
