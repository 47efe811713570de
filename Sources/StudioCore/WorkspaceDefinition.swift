/// A workspace as stored: what it is, not whether it runs (that is asked of systemd).
public struct WorkspaceDefinition: Codable, Sendable, Equatable {
    public var identity: WorkspaceIdentity
    /// Absolute path of the project directory on the host.
    public var projectDirectory: String
    /// The template's name.
    public var template: String
    /// The workspace's own limits (set at create or by `studioctl set`); unset parts come from the template and
    /// the config defaults.
    public var limits: ResourceLimits
    /// Seconds since the epoch.
    public var createdAt: Double

    public init(identity: WorkspaceIdentity, projectDirectory: String, template: String, limits: ResourceLimits = ResourceLimits(), createdAt: Double) {
        self.identity = identity
        self.projectDirectory = projectDirectory
        self.template = template
        self.limits = limits
        self.createdAt = createdAt
    }
}
