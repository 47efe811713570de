/// A workspace template: how a kind of workspace runs (backend, limits, environment, apps, terminals).
///
/// Files are `<name>.conf` in `/etc/studio/templates/` (admin) or `/usr/share/studio/templates/` (shipped); an admin
/// file overrides a shipped one of the same name.
public struct Template: Codable, Sendable, Equatable {
    /// How a workspace runs: `host`, a transient service on the host in the project directory, as its owner; or
    /// `container`, a transient service running systemd-nspawn on an image, root inside but not on the host.
    public enum Backend: String, Codable, Sendable, CaseIterable {
        case host
        case container
    }

    public var name: String
    public var description: String
    public var backend: Backend
    /// `container`: the image (`/var/lib/machines/NAME`).
    public var image: ImageName?
    /// `container`: its network.
    public var network: ContainerNetwork
    public var limits: ResourceLimits
    /// Seconds without interaction or CPU work after which studio-idled stops the workspace (0: never); nil: the
    /// configuration's `[Idle] Timeout=`.
    public var idleTimeoutSeconds: Double?
    public var environment: [String: String]
    public var apps: [AppSpec]
    public var terminals: [TerminalSpec]
    /// The file it was read from.
    public var path: String

    public init(
        name: String, description: String = "", backend: Backend = .host, image: ImageName? = nil, network: ContainerNetwork = .host, limits: ResourceLimits = ResourceLimits(),
        idleTimeoutSeconds: Double? = nil, environment: [String: String] = [:], apps: [AppSpec] = [],
        terminals: [TerminalSpec] = [], path: String = ""
    ) {
        self.name = name
        self.description = description
        self.backend = backend
        self.image = image
        self.network = network
        self.limits = limits
        self.idleTimeoutSeconds = idleTimeoutSeconds
        self.environment = environment
        self.apps = apps
        self.terminals = terminals
        self.path = path
    }

    /// Reads a template from its parsed file.
    ///
    /// ```
    /// [Template]
    /// Description=Python with Jupyter
    /// Backend=host
    /// # Backend=container with Image=bookworm-dev (/var/lib/machines/bookworm-dev) and Network=host|private|none
    /// [Limits]
    /// MemoryMax=4G
    /// CPUs=2
    /// [Idle]
    /// Timeout=2h
    /// [Environment]
    /// PIP_CACHE_DIR=/tmp/pip
    /// [App:jupyter]
    /// Command=jupyter lab --no-browser --ServerApp.sock=$STUDIO_APP_SOCKET
    /// [Terminal:tests]
    /// Command=pytest -f
    /// ```
    public init(name: String, file: ConfigFile) throws(ConfigError) {
        self.init(name: name, path: file.entries.first?.path ?? "")
        try file.checkSections(known: "[Template], [Limits], [Idle], [Environment], [App:NAME], [Terminal:NAME]") { name in
            ["Template", "Limits", "Idle", "Environment"].contains(name) || name.hasPrefix("App:") || name.hasPrefix("Terminal:")
        }
        var apps: [String: AppSpec] = [:], appOrder: [String] = []
        var terminals: [String: TerminalSpec] = [:], terminalOrder: [String] = []
        for entry in file.entries {
            switch (entry.section, entry.key) {
            case ("Template", "Description"): description = entry.value
            case ("Template", "Backend"):
                guard let backend = Backend(rawValue: entry.value) else {
                    throw entry.error("Backend=\(entry.value) is not available; the backends are: host, container")
                }
                self.backend = backend
            case ("Template", "Image"):
                do {
                    image = try ImageName(entry.value)
                } catch {
                    throw entry.error("Image=\(entry.value): \(error)")
                }
            case ("Template", "Network"):
                guard let network = ContainerNetwork(rawValue: entry.value) else {
                    throw entry.error("Network=\(entry.value) is not a network; use host (the default), private or none")
                }
                self.network = network
            case ("Limits", _): try limits.apply(entry)
            case ("Idle", "Timeout"): idleTimeoutSeconds = try entry.idleTimeout()
            case ("Environment", _): environment[entry.key] = entry.value
            case (let section, "Command") where section.hasPrefix("App:"):
                let appName = try entry.itemName(in: section, prefix: "App:")
                if apps[appName] == nil { appOrder.append(appName) }
                apps[appName] = AppSpec(name: appName, command: entry.value)
            case (let section, "Command") where section.hasPrefix("Terminal:"):
                let terminalName = try entry.itemName(in: section, prefix: "Terminal:")
                if terminals[terminalName] == nil { terminalOrder.append(terminalName) }
                terminals[terminalName] = TerminalSpec(name: terminalName, command: entry.value)
            default:
                throw entry.error("unknown setting \(entry.key) in [\(entry.section)]; templates know [Template] Description, Backend, Image, Network; [Limits] MemoryMax, MemoryHigh, CPUs, CPUWeight, TasksMax, IOWeight; [Idle] Timeout; [Environment]; [App:NAME] Command; [Terminal:NAME] Command")
            }
        }
        self.apps = appOrder.compactMap { apps[$0] }
        self.terminals = terminalOrder.compactMap { terminals[$0] }
        switch backend {
        case .container where image == nil:
            throw ConfigError(path: path, line: nil, message: "Backend=container needs Image=NAME, an OS tree in /var/lib/machines (`studioctl images` lists them, `studioctl image build NAME` makes one)")
        case .host where image != nil || network != .host:
            throw ConfigError(path: path, line: nil, message: "Image= and Network= are for Backend=container; this template runs on the host")
        default: break
        }
    }
}

extension ResourceLimits {
    /// Applies one `[Limits]`-style entry (used by templates and by studio.conf's `[Limits]` and `[Ceilings]`).
    mutating func apply(_ entry: ConfigFile.Entry) throws(ConfigError) {
        switch entry.key {
        case "MemoryMax": memoryMaxBytes = try entry.byteSize(in: Self.memoryRange)
        case "MemoryHigh": memoryHighBytes = try entry.byteSize(in: Self.memoryRange)
        case "CPUs":
            guard let value = Double(entry.value), value.isFinite, Self.cpusRange.contains(value) else {
                throw entry.error("CPUs=\(entry.value) is not a number of CPUs from 0.01 to 1024; write e.g. 2 or 0.5")
            }
            cpus = value
        case "CPUWeight": cpuWeight = try entry.integer(in: Self.weightRange)
        case "TasksMax": tasksMax = try entry.integer(in: Self.tasksRange)
        case "IOWeight": ioWeight = try entry.integer(in: Self.weightRange)
        default:
            throw entry.error("unknown limit \(entry.key); the limits are MemoryMax, MemoryHigh, CPUs, CPUWeight, TasksMax, IOWeight")
        }
    }
}

extension ConfigFile.Entry {
    func error(_ message: String) -> ConfigError {
        ConfigError(path: path, line: line, message: message)
    }

    func byteSize(in range: ClosedRange<UInt64>) throws(ConfigError) -> UInt64 {
        guard let bytes = ByteSize.parse(value) else { throw error("\(key)=\(value) is not a size; write e.g. 512M or 4G") }
        guard range.contains(bytes) else {
            throw error("\(key)=\(value) must be from \(ByteSize.format(range.lowerBound)) to \(ByteSize.format(range.upperBound))")
        }
        return bytes
    }

    func integer(in range: ClosedRange<UInt64>) throws(ConfigError) -> UInt64 {
        guard let number = UInt64(value), range.contains(number) else {
            throw error("\(key)=\(value) must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return number
    }

    func itemName(in section: String, prefix: String) throws(ConfigError) -> String {
        let name = String(section.dropFirst(prefix.count))
        guard (try? WorkspaceName(name)) != nil else {
            throw error("[\(section)]: \"\(name)\" is not a valid name; use lower-case letters, digits and dashes")
        }
        return name
    }
}
