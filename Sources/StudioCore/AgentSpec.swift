/// What the in-workspace agent needs to know, written by the broker to `/run/studio/ws/<id>/agent.json`
/// (owned by the workspace owner, mode 0400, in a directory of root's) and read by `studio-sandbox agent --spec PATH`.
public struct AgentSpec: Codable, Sendable, Equatable {
    public var workspace: WorkspaceIdentity
    /// The project directory; the agent's and every terminal's working directory.
    public var projectDirectory: String
    /// Where the agent listens (the broker binds it and hands the socket over; in tests the agent binds it).
    public var socketPath: String
    /// Where the apps' sockets go; nil: `apps/` beside the agent's socket.
    public var appDirectory: String?
    /// The owner's login shell, for terminals without a command.
    public var shell: String
    /// Extra environment for terminals, exec and apps (from the template).
    public var environment: [String: String]
    /// Web apps to start and keep running.
    public var apps: [AppSpec]
    /// Named terminal commands from the template (`studioctl shell NAME --terminal build`).
    public var terminals: [TerminalSpec]
    /// Bytes of output each terminal keeps for replay on reattach.
    public var scrollbackBytes: Int
    /// Set for a container workspace: the agent runs as root inside (an unprivileged host uid), starts the owner's
    /// terminals, exec and apps as `uid`/`gid` and `root` sessions as root, and lets every connection on its
    /// listener in (inside, every host peer shows as nobody; the socket's owner and mode keep others out).
    public var container: ContainerAccount?

    public init(
        workspace: WorkspaceIdentity, projectDirectory: String, socketPath: String, shell: String, appDirectory: String? = nil,
        environment: [String: String] = [:], apps: [AppSpec] = [], terminals: [TerminalSpec] = [],
        scrollbackBytes: Int = 256 * 1024, container: ContainerAccount? = nil
    ) {
        self.workspace = workspace
        self.projectDirectory = projectDirectory
        self.socketPath = socketPath
        self.appDirectory = appDirectory
        self.shell = shell
        self.environment = environment
        self.apps = apps
        self.terminals = terminals
        self.scrollbackBytes = scrollbackBytes
        self.container = container
    }
}

/// A web app the agent runs: `command` (through `/bin/sh -c`) must listen on the unix socket in
/// `$STUDIO_APP_SOCKET`; it is restarted when it exits.
public struct AppSpec: Codable, Sendable, Equatable {
    public var name: String
    public var command: String
    public var environment: [String: String]

    public init(name: String, command: String, environment: [String: String] = [:]) {
        self.name = name
        self.command = command
        self.environment = environment
    }
}

/// A named terminal: `command` runs through `/bin/sh -c` in a PTY.
public struct TerminalSpec: Codable, Sendable, Equatable {
    public var name: String
    public var command: String

    public init(name: String, command: String) {
        self.name = name
        self.command = command
    }
}

/// The owner inside a container workspace: the same name, uid and gid as on the host; the agent makes sure the
/// image's `/etc/passwd` and `/etc/group` have them (the writes land in the workspace's own layer).
public struct ContainerAccount: Codable, Sendable, Equatable {
    public var name: String
    public var uid: UInt32
    public var gid: UInt32
    /// The primary group's name on the host.
    public var group: String
    /// The home directory (the workspace's own home, at the same path as on the host).
    public var home: String

    public init(name: String, uid: UInt32, gid: UInt32, group: String, home: String) {
        self.name = name
        self.uid = uid
        self.gid = gid
        self.group = group
        self.home = home
    }
}
