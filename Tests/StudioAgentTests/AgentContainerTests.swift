import Foundation
import Logging
import StudioCore
import StudioNet
import Testing
@testable import StudioAgent
@testable import StudioCLI

/// Container mode: the owner's account inside, spawning with other credentials, root sessions, and the agent as a
/// PID 1 that reaps orphans.
@Suite struct ContainerAccountFileTests {
    let alice = ContainerAccount(name: "alice", uid: 1000, gid: 1000, group: "alice", home: "/home/alice")

    @Test func appendsTheOwnerAndKeepsOtherLinesByteForByte() {
        let text = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n#odd  line\n"
        #expect(ContainerAccounts.passwd(text, account: alice, shell: "/bin/bash") == text + "alice:x:1000:1000::/home/alice:/bin/bash\n")
        #expect(ContainerAccounts.group("root:x:0:\n", account: alice) == "root:x:0:\nalice:x:1000:\n")
    }

    @Test func replacesTheSameNameOrTheSameIdInPlace() {
        let text = "root:x:0:0:root:/root:/bin/bash\nubuntu:x:1000:1000:Ubuntu:/home/ubuntu:/bin/bash\nnobody:x:65534:65534::/:/bin/false\nalice:x:2000:2000::/old:/bin/sh\n"
        #expect(ContainerAccounts.passwd(text, account: alice, shell: "/bin/zsh")
            == "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/zsh\nnobody:x:65534:65534::/:/bin/false\n")
        #expect(ContainerAccounts.group("root:x:0:\nubuntu:x:1000:ubuntu\nusers:x:100:\n", account: alice) == "root:x:0:\nalice:x:1000:\nusers:x:100:\n")
    }

    @Test func anUpToDateFileIsLeftAsIsAndAMissingOneGetsRoot() {
        let text = "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n"
        #expect(ContainerAccounts.passwd(text, account: alice, shell: "/bin/bash") == text)
        #expect(ContainerAccounts.passwd("", account: alice, shell: "/bin/sh") == "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n")
        #expect(ContainerAccounts.group("", account: alice) == "root:x:0:\nalice:x:1000:\n")
        // No final newline: one is added after the last line.
        #expect(ContainerAccounts.group("root:x:0:", account: alice) == "root:x:0:\nalice:x:1000:\n")
    }

    @Test func theShellIsTheOwnersIfTheImageHasIt() {
        #expect(ContainerAccounts.shell(preferred: "/usr/bin/zsh") { $0 == "/usr/bin/zsh" } == "/usr/bin/zsh")
        #expect(ContainerAccounts.shell(preferred: "/usr/bin/zsh") { $0 == "/bin/bash" } == "/bin/bash")
        #expect(ContainerAccounts.shell(preferred: "/usr/bin/zsh") { _ in false } == "/bin/sh")
        #expect(ContainerAccounts.rootShell { _ in false } == "/bin/sh")
    }

    @Test func installWritesBothFilesAtomicallyWithMode0644() throws {
        let etc = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: etc) }
        try "root:x:0:0:root:/root:/bin/bash\n".write(toFile: "\(etc)/passwd", atomically: false, encoding: .utf8)
        try ContainerAccounts.install(alice, shell: "/bin/bash", etc: etc)
        #expect(try String(contentsOfFile: "\(etc)/passwd", encoding: .utf8) == "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n")
        #expect(try String(contentsOfFile: "\(etc)/group", encoding: .utf8) == "root:x:0:\nalice:x:1000:\n")
        for file in ["passwd", "group"] {
            let mode = try FileManager.default.attributesOfItem(atPath: "\(etc)/\(file)")[.posixPermissions] as? Int
            #expect(mode == 0o644)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: etc).sorted() == ["group", "passwd"])
    }
}

@Suite struct CredentialedSpawnTests {
    /// Runs `argv` as uid/gid 65534 and returns its stdout and exit code.
    func run(_ argv: [String], as credentials: ProcessSpawner.Credentials) async throws -> (String, Int32) {
        let pipe = try ProcessSpawner.pipe()
        let pid: pid_t
        do {
            pid = try ProcessSpawner.spawn(
                argv, environment: ["PATH": "/usr/bin:/bin"], directory: "/",
                stdio: [.open("/dev/null"), .descriptor(pipe.write), .inherit], as: credentials)
        } catch {
            close(pipe.read)
            close(pipe.write)
            throw error
        }
        close(pipe.write)
        let output = FileHandle(fileDescriptor: pipe.read, closeOnDealloc: true).readDataToEndOfFile()
        let code = await ChildReaper.exitCode(of: pid)
        return (String(decoding: output, as: UTF8.self), code)
    }

    @Test(.enabled(if: getuid() == 0, "needs root to change credentials"))
    func runsAsTheGivenUidGidAndGroups() async throws {
        let nobody = ProcessSpawner.Credentials(uid: 65534, gid: 65534)
        #expect(try await run(["/usr/bin/id", "-u"], as: nobody) == ("65534\n", 0))
        #expect(try await run(["id", "-g"], as: nobody) == ("65534\n", 0))
        #expect(try await run(["id", "-G"], as: nobody) == ("65534\n", 0))
        // Default signals and an empty mask (read by the spawned program itself, not by a shell that blocks
        // signals around its forks), a session of its own, no descriptor of ours beyond 0-2.
        #expect(try await run(["grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"], as: nobody).0 == "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n")
        let (session, _) = try await run(["sh", "-c", "test $(ps -o sid= -p $$) = $$ && echo leader; ls /proc/$$/fd"], as: nobody)
        #expect(session.hasPrefix("leader\n0\n1\n2\n"), "\(session)")
    }

    @Test(.enabled(if: getuid() == 0, "needs root to change credentials"))
    func aMissingProgramIsAFailureLikePosixSpawns() async throws {
        let nobody = ProcessSpawner.Credentials(uid: 65534, gid: 65534)
        do {
            _ = try await run(["/no/such/program"], as: nobody)
            Issue.record("spawning a missing program succeeded")
        } catch let failure as ProcessSpawner.Failure {
            #expect(failure.errno == ENOENT)
            #expect(failure.program == "/no/such/program")
        }
        do {
            _ = try ProcessSpawner.spawn(["/bin/true"], environment: [:], directory: "/no/such/directory", stdio: [], as: nobody)
            Issue.record("spawning in a missing directory succeeded")
        } catch {
            #expect(error.errno == ENOENT)
        }
    }
}

@Suite struct RootRequestTests {
    func agent(container: ContainerAccount?) throws -> Agent {
        let spec = AgentSpec(
            workspace: WorkspaceIdentity(owner: "alice", uid: 1000, name: try WorkspaceName("demo")),
            projectDirectory: "/tmp", socketPath: "/tmp/unused.sock", shell: "/bin/sh", container: container)
        return Agent(spec: spec, logger: Logger(label: "test"))
    }

    @Test func theHostBackendRefusesRootWithForbidden() async throws {
        let agent = try agent(container: nil)
        for request in [AgentRequest.attach(root: true), .exec(["id"], root: true)] {
            let line = try JSONEncoder().encode(request)
            guard case .answer(let response) = await agent.open(line: Array(line)[...], caller: PeerCredentials(pid: 5, uid: 1000, gid: 1000)) else {
                Issue.record("a root request got a session on the host")
                continue
            }
            #expect(response.error?.code == .forbidden)
            #expect(response.error?.message == "root sessions are only for container workspaces; alice/demo runs on the host as alice")
        }
    }

    /// Inside a container every host peer shows as nobody; the socket's mode is the lock.
    @Test func aContainerAgentLetsEveryPeerIn() throws {
        let agent = try agent(container: ContainerAccount(name: "alice", uid: 1000, gid: 1000, group: "alice", home: "/home/alice"))
        #expect(agent.access.allows(PeerCredentials(pid: 0, uid: 65534, gid: 65534)))
        #expect(try !self.agent(container: nil).access.allows(PeerCredentials(pid: 0, uid: 65534, gid: 65534)))
    }

    @Test func theIdentityConflictNamesAnotherTerminal() {
        #expect(TerminalRegistry.identityConflict("main", root: false).message.contains("\"root\""))
        #expect(TerminalRegistry.identityConflict("root", root: false).message.contains("\"root-2\""))
        #expect(TerminalRegistry.identityConflict("root", root: true).message.contains("\"main\""))
        #expect(TerminalRegistry.identityConflict("root", root: true).code == .conflict)
    }
}

/// The built agent as a container's PID 1, with the owner uid 4242 "studiotest": in a PID and mount namespace of
/// its own (`unshare`), over a copy of /etc so that the account it writes never touches this machine's.
@Suite(.serialized, .enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare"), "needs root and unshare"))
struct AgentAsPID1Tests {
    final class ContainerAgent: @unchecked Sendable {
        let directory: String
        let spec: AgentSpec
        let process: Process
        let log: String

        init() throws {
            directory = try temporaryDirectory()
            let project = "\(directory)/project"
            try FileManager.default.createDirectory(atPath: project, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: "\(directory)/home", withIntermediateDirectories: true)
            chown("\(directory)/home", 4242, 4242)
            chmod(directory, 0o755)
            spec = AgentSpec(
                workspace: WorkspaceIdentity(owner: "studiotest", uid: 4242, name: try WorkspaceName("demo")),
                projectDirectory: project, socketPath: "\(directory)/agent.sock", shell: "/no/such/shell",
                container: ContainerAccount(name: "studiotest", uid: 4242, gid: 4242, group: "studiotest", home: "\(directory)/home"))
            try JSONEncoder().encode(spec).write(to: URL(fileURLWithPath: "\(directory)/agent.json"))
            log = "\(directory)/agent.log"
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
            let agent = try BuiltPrograms.path("studio-agent")
            process.arguments = [
                "--mount", "--pid", "--fork", "--mount-proc", "/bin/sh", "-c",
                #"cp -a /etc "$0/etc" && mount --bind "$0/etc" /etc && exec "$1" --spec "$0/agent.json""#, directory, agent,
            ]
            let output = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            process.standardOutput = output
            process.standardError = output
            process.standardInput = FileHandle.nullDevice
            try process.run()
            try waitUntil("the agent listens on \(spec.socketPath)") { (try? self.connect()) != nil }
        }

        func connect() throws -> AgentClient { try AgentClient(workspace: spec.workspace, socketPath: spec.socketPath) }

        func exec(_ argv: [String], root: Bool = false) throws -> (text: String, exit: Int32?) {
            let client = try connect()
            try client.open(.exec(argv, root: root))
            try client.send(.eof)
            return try client.output()
        }

        /// The agent's pid outside: the only child of unshare.
        var agentPID: pid_t? {
            let pid = process.processIdentifier
            let children = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
            return children.split(separator: " ").first.flatMap { pid_t($0) }
        }

        deinit {
            if process.isRunning, let agent = agentPID { kill(agent, SIGKILL) }
            if process.isRunning { process.waitUntilExit() }
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    @Test func ownerAndRootSessionsOrphansAndSIGTERM() throws {
        let agent = try ContainerAgent()
        // The owner, known by name inside; HOME and SHELL say who.
        #expect(try agent.exec(["sh", "-c", "id -u; id -un; id -G; echo $HOME $USER $SHELL; pwd"]).text
            == "4242\nstudiotest\n4242\n\(agent.directory)/home studiotest /bin/bash\n\(agent.spec.projectDirectory)\n")
        #expect(try agent.exec(["sh", "-c", "id -u; echo $HOME $USER; pwd"], root: true).text == "0\n/root root\n\(agent.spec.projectDirectory)\n")
        #expect(try agent.exec(["getent", "passwd", "studiotest"]).text == "studiotest:x:4242:4242::\(agent.directory)/home:/bin/bash\n")

        // A root terminal is "root" by default and keeps its identity.
        let rootTerminal = try agent.connect()
        let attached = try rootTerminal.open(.attach(AgentProtocol.rootTerminal, root: true))
        #expect(attached.terminal?.name == "root" && attached.terminal?.root == true)
        let unnamed = try agent.connect()
        let request = AgentRequest(op: "attach", root: true)
        #expect(try unnamed.open(request).terminal?.name == "root")
        let wrong = try agent.connect()
        #expect(throws: AgentClientError.self) { try wrong.open(.attach("root")) }
        let owner = try agent.connect()
        #expect(try owner.open(.attach("main")).terminal?.root == false)
        try owner.send(.input(Array("stat -c %U $(tty)\n".utf8)))
        #expect(try owner.output { $0.contains("studiotest") }.text.contains("studiotest"))
        let listed = try agent.connect().open(AgentRequest(op: "terminals")).terminals ?? []
        #expect(listed.map { "\($0.name):\($0.root ?? false)" } == ["main:false", "root:true"])

        // Orphans re-parented to PID 1 are reaped: no zombie is left.
        #expect(try agent.exec(["sh", "-c", "sleep 0.2 & exit 0"]).exit == 0)
        usleep(800_000)
        #expect(try agent.exec(["sh", "-c", "grep -l '^State:.*Z' /proc/[0-9]*/status; true"]).text == "")

        // PID 1 has a SIGTERM handler: stopping ends the sessions and exits 0.
        let pid = try #require(agent.agentPID)
        kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(10)
        while agent.process.isRunning, Date() < deadline { usleep(20_000) }
        #expect(!agent.process.isRunning)
        if !agent.process.isRunning { #expect(agent.process.terminationStatus == 0) }
    }
}

func temporaryDirectory() throws -> String {
    var template = Array("/tmp/studio-agent-XXXXXX".utf8CString)
    let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    try #require(made != nil, "mkdtemp failed")
    return String(cString: template)
}
