import StudioAuth
import StudioSystemd
import StudioCore
import StudioStore

/// What the broker works with; production wires the real ones, tests pass doubles.
public struct BrokerEnvironment: Sendable {
    /// Reads `/etc/studio/studio.conf` and drop-ins (read per request, so edits apply without a restart).
    public var loadConfig: @Sendable () throws(ConfigError) -> StudioConfig
    /// Reads the templates (per request, likewise).
    public var loadTemplates: @Sendable () throws(ConfigError) -> TemplateCatalog
    public var store: WorkspaceStore
    public var units: any UnitManager
    public var runtime: RuntimeDirectories
    /// The program a workspace unit runs as its agent.
    public var agentProgram: String
    /// Container workspaces: their own data, the broker's program (for `container-run`), systemd-nspawn.
    public var workspaceDataRoot: String = Paths.workspaceDataRoot
    public var sandboxProgram: String = Paths.sandboxProgram
    public var nspawn: String = Paths.nspawn
    /// uid of the `studio` system user (studiod), if it exists.
    public var studioUID: UInt32?
    /// uid of the `studio-idled` system user, if it exists: it may only stop workspaces.
    public var idledUID: UInt32?
    /// Which accounts may own workspaces.
    var accounts: AccountPolicy
    /// Now, in seconds since the epoch.
    public var now: @Sendable () -> Double
    /// What studio-idled publishes about running workspaces (nil when there is none or it cannot be read).
    public var readIdleReport: @Sendable () -> IdleReport?
    /// Checks a password (PAM service `studio` when nil); tests pass their own.
    public var authenticate: (@Sendable (_ user: String, _ password: String, _ remote: String) -> PAMAuthenticator.Outcome)?
    /// Where container images are (`/var/lib/machines`); tests pass a directory of their own.
    public var imageDirectory: String = Paths.imageDirectory

    public init(
        loadConfig: @escaping @Sendable () throws(ConfigError) -> StudioConfig,
        loadTemplates: @escaping @Sendable () throws(ConfigError) -> TemplateCatalog,
        store: WorkspaceStore, units: any UnitManager, runtime: RuntimeDirectories,
        agentProgram: String = Paths.agentProgram, studioUID: UInt32? = UserAccount.named("studio")?.uid,
        idledUID: UInt32? = UserAccount.named("studio-idled")?.uid,
        readSystemFile: (@Sendable (String) -> String?)? = nil,
        readIdleReport: @escaping @Sendable () -> IdleReport? = { IdleReportFile.read() },
        now: @escaping @Sendable () -> Double
    ) {
        self.readIdleReport = readIdleReport
        self.loadConfig = loadConfig
        self.loadTemplates = loadTemplates
        self.store = store
        self.units = units
        self.runtime = runtime
        self.agentProgram = agentProgram
        self.studioUID = studioUID
        self.idledUID = idledUID
        self.accounts = readSystemFile.map { AccountPolicy(readFile: $0) } ?? AccountPolicy()
        self.now = now
    }
}
