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
    /// The dashboard: plain HTML, CSS, JavaScript and the OpenAPI document, served by studiod.
    public static let webRoot = "/usr/share/studio/web"
    /// xterm.js, bundled at package build from node-xterm, served by studiod under /vendor/xterm/.
    public static let xtermRoot = "/usr/share/studio/xterm"
    /// Per-workspace runtime directories (`<id>/agent.sock`).
    public static let workspaceRuntimeRoot = "/run/studio/ws"
    /// The program every workspace unit runs: the agent, a lean program of its own (it links only libc and the C++
    /// runtime, so that it runs inside any glibc image too).
    public static let agentProgram = "/usr/lib/studio/studio-agent"
    /// The broker's program (a link to the multi-call binary); container workspaces' units run its
    /// `container-run` as their main process, which makes the mounts and becomes systemd-nspawn.
    public static let sandboxProgram = "/usr/lib/studio/studio-sandbox"
    /// Admin templates; they override shipped ones of the same name.
    public static let templateDirectory = "/etc/studio/templates"
    /// Templates shipped with the package.
    public static let shippedTemplateDirectory = "/usr/share/studio/templates"
    /// What studio-idled publishes about running workspaces, for the broker to show (rewritten every check).
    public static let idleReport = "/run/studio-idled/idle.json"
    /// Persistent state (SQLite database, per-workspace data).
    public static let stateDirectory = "/var/lib/studio"
    /// Container workspaces' own data (`<id>/upper`, the writable layer over the image; `<id>/home`).
    public static let workspaceDataRoot = "/var/lib/studio/workspaces"
    /// Container images: OS trees, one directory each (systemd's place for them).
    public static let imageDirectory = "/var/lib/machines"
    /// systemd-nspawn.
    public static let nspawn = "/usr/bin/systemd-nspawn"
    /// Where the agent program and its spec appear inside a container workspace (a tmpfs there).
    public static let containerAgentProgram = "/run/studio-agent"
    public static let containerAgentSpec = "/run/studio-agent.json"
}
