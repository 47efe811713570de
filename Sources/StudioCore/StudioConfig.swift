/// Studio's settings from `/etc/studio/studio.conf` and its drop-ins, with defaults for what is not set.
public struct StudioConfig: Sendable, Equatable {
    /// Seconds studiod stays up with no open connection before it exits (socket activation brings it back);
    /// 0 means never exit.
    public var serverIdleExitSeconds: Double = 120
    /// Seconds the broker stays up with no open connection before it exits; 0 means never exit.
    public var brokerIdleExitSeconds: Double = 60

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
    ]

    /// Applies every entry of `file` in order; unknown sections and keys are errors, so that typos are caught.
    public init(file: ConfigFile) throws(ConfigError) {
        for entry in file.entries {
            guard let section = Self.keys[entry.section] else {
                let known = Self.keys.keys.sorted().map { "[\($0)]" }.joined(separator: ", ")
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
}
