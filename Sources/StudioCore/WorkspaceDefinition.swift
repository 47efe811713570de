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
    /// Its own idle timeout (`studioctl set --idle-timeout`); nil: its template's, else `[Idle] Timeout=`.
    public var idleTimeoutSeconds: Double?
    /// How it was last stopped for idleness; cleared when it starts.
    public var idleStop: IdleStop?
    /// A container workspace's user-namespace range (``ContainerRange``), given at its first container start and
    /// kept until it is deleted: its own layer's files belong to it.
    public var uidBase: UInt32?

    public init(
        identity: WorkspaceIdentity, projectDirectory: String, template: String, limits: ResourceLimits = ResourceLimits(), createdAt: Double,
        idleTimeoutSeconds: Double? = nil, idleStop: IdleStop? = nil, uidBase: UInt32? = nil
    ) {
        self.identity = identity
        self.projectDirectory = projectDirectory
        self.template = template
        self.limits = limits
        self.createdAt = createdAt
        self.idleTimeoutSeconds = idleTimeoutSeconds
        self.idleStop = idleStop
        self.uidBase = uidBase
    }
}
