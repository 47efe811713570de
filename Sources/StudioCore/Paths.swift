/// Where Studio's files and sockets live on the host (see docs/architecture.md, "On the host").
public enum Paths {
    /// The main configuration file.
    public static let configFile = "/etc/studio/studio.conf"
    /// Drop-ins read after the main file, in lexical order; later files override earlier ones.
    public static let configDropInDirectory = "/etc/studio/studio.conf.d"
    /// studiod's local socket, used by studioctl for daemon status.
    public static let studiodSocket = "/run/studio/studiod.sock"
    /// The privileged broker's socket.
    public static let brokerSocket = "/run/studio/sandbox.sock"
    /// Persistent state (SQLite database, per-workspace data).
    public static let stateDirectory = "/var/lib/studio"
}
