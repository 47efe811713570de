import Foundation
import Logging
import StudioCore
import StudioNet
import StudioStore
import Testing
@testable import StudioSandbox

/// The broker's workspace operations, through its JSON protocol, with systemd replaced by a double.
@Suite final class WorkspaceBrokerTests: Sendable {
    let units = FakeUnitManager()
    let store: WorkspaceStore
    let broker: Broker
    let root: String
    let project: String
    let me: UserAccount
    let caller: PeerCredentials

    init() throws {
        root = NSTemporaryDirectory() + "studio-broker-\(UUID().uuidString.prefix(8))"
        project = root + "/project"
        try FileManager.default.createDirectory(atPath: project, withIntermediateDirectories: true)
        me = try #require(UserAccount.withUID(getuid()))
        caller = PeerCredentials(pid: getpid(), uid: getuid(), gid: getgid())
        store = try WorkspaceStore()
        var config = StudioConfig()
        config.ceilings = ResourceLimits(memoryMaxBytes: 8 << 30, cpus: 4, tasksMax: 10000)
        let templates = TemplateCatalog(templates: [
            "default": Template(name: "default", limits: ResourceLimits(tasksMax: 512), environment: ["API_TOKEN": "hunter2"]),
            "big": Template(name: "big", limits: ResourceLimits(memoryMaxBytes: 64 << 30)),
        ])
        // The test runs as whoever runs `swift test` (root in CI): let that account own workspaces here.
        let shell = me.shell
        let environment = BrokerEnvironment(
            loadConfig: { [config] in config }, loadTemplates: { templates }, store: store, units: units,
            runtime: RuntimeDirectories(root: root + "/run", changeOwner: false),
            agentProgram: "/usr/lib/studio/studio-agent", studioUID: 999_999, idledUID: 999_998,
            readSystemFile: { path in
                switch path {
                case "/etc/login.defs": "UID_MIN 0\nUID_MAX 4294967294\n"
                case "/etc/shells": "/bin/sh\n\(shell)\n"
                default: nil
                }
            },
            now: { 1_700_000_000 })
        broker = Broker(logger: Logger(label: "test"), environment: environment)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: root)
    }

    /// Sends `op` with `params` and returns (ok, result-or-error object).
    func call(_ op: String, _ params: [String: Any] = [:], as who: PeerCredentials? = nil) async throws -> (Bool, [String: Any]) {
        let request = try JSONSerialization.data(withJSONObject: ["v": 1, "op": op, "params": params])
        let answer = await broker.handle(line: Array(request), caller: who ?? caller)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(answer)) as? [String: Any])
        let ok = object["ok"] as? Bool ?? false
        return (ok, try #require((ok ? object["result"] : object["error"]) as? [String: Any]))
    }

    @Test func startCreatesOnFirstUseAndRunsTheAgentAsTheOwner() async throws {
        let (ok, result) = try await call("start", ["name": "web", "projectDirectory": project])
        #expect(ok, "\(result)")
        #expect(result["created"] as? Bool == true)
        let spec = try #require(units.started.first)
        #expect(spec.name == "studio-ws-\(UnitNames.escape(me.name))-web.service")
        #expect(spec.user == me.name)
        #expect(spec.slice == "studio-\(UnitNames.escape(me.name)).slice")
        #expect(spec.workingDirectory == project)
        #expect(spec.argv.prefix(2) == ["/usr/lib/studio/studio-agent", "--spec"])
        #expect(spec.limits.tasksMax == 512, "the template's limit")
        #expect(spec.limits.memoryMaxBytes == 4 << 30, "the config default")
        #expect(spec.limits.memoryHighBytes == (4 << 30) / 10 * 9)
        #expect(spec.booleanProperties["ProtectKernelTunables"] == true)
        #expect(spec.stringProperties == ["ProtectProc": "invisible", "OOMPolicy": "continue", "ProtectSystem": "full"])
        #expect(spec.standardInput != nil, "the agent gets the socket the broker bound")
        #expect(spec.argv.last == "--listen-stdin")
        let agentSpec = try JSONDecoder().decode(AgentSpec.self, from: Data(contentsOf: URL(fileURLWithPath: spec.argv[2])))
        #expect(agentSpec.projectDirectory == project)

        let (_, again) = try await call("start", ["name": "web"])
        #expect(again["alreadyRunning"] as? Bool == true)
        #expect(units.started.count == 1)
    }

    @Test func badInputCreatesNothing() async throws {
        let cases: [([String: Any], String, String)] = [
            (["name": "Bad_Name", "projectDirectory": project], "bad_request", "not a valid workspace name"),
            (["name": "web", "projectDirectory": root + "/missing"], "bad_request", "does not exist"),
            (["name": "web", "projectDirectory": "relative/dir"], "bad_request", "absolute"),
            (["name": "web", "projectDirectory": project, "template": "gpu"], "bad_request", "available: big, default"),
            (["name": "web", "projectDirectory": project, "limits": ["memoryMaxBytes": 16 << 30]], "bad_request", "ceiling of 8G"),
            (["name": "web"], "not_found", "no workspace \"web\""),
        ]
        for (params, code, text) in cases {
            let (ok, error) = try await call("start", params)
            #expect(!ok)
            #expect(error["code"] as? String == code, "\(params)")
            #expect((error["message"] as? String)?.contains(text) == true, "\(error["message"] ?? "") should mention \(text)")
        }
        #expect(try store.list(uid: nil).isEmpty)
        #expect(units.started.isEmpty)
    }

    @Test func aStartThatFailsLeavesNoRowAndNoRuntimeDirectory() async throws {
        units.failStarts(true)
        let (ok, error) = try await call("start", ["name": "web", "projectDirectory": project])
        #expect(!ok)
        #expect(error["code"] as? String == "systemd")
        #expect(try store.list(uid: nil).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: "\(root)/run/\(getuid())-web"))
    }

    @Test func setChangesLimitsLiveAndRefusesWhatIsAboveTheCeiling() async throws {
        _ = try await call("start", ["name": "web", "projectDirectory": project])
        let unit = try #require(units.started.first?.name)
        let (refused, error) = try await call("set", ["name": "web", "limits": ["cpus": 16]])
        #expect(!refused)
        #expect(error["message"] as? String == "cpus 16 is above the administrator's ceiling of 4; ask for at most 4")
        #expect(units.liveLimits(unit) == nil)

        let (ok, info) = try await call("set", ["name": "web", "limits": ["memoryMaxBytes": 2 << 30, "tasksMax": 100]])
        #expect(ok, "\(info)")
        #expect(units.liveLimits(unit)?.memoryMaxBytes == 2 << 30)
        #expect(units.liveLimits(unit)?.tasksMax == 100)
        #expect(try store.find(uid: getuid(), name: WorkspaceName("web"))?.limits.tasksMax == 100)
    }

    @Test func stopStartDeleteAndList() async throws {
        _ = try await call("start", ["name": "web", "projectDirectory": project])
        _ = try await call("create", ["name": "api", "projectDirectory": project])
        var (_, list) = try await call("list")
        var states = (list["workspaces"] as? [[String: Any]])?.map { "\(($0["definition"] as? [String: Any])?["identity"].flatMap { ($0 as? [String: Any])?["name"] } ?? ""):\($0["state"] ?? "")" }
        #expect(states == ["api:stopped", "web:running"])

        let (stopped, _) = try await call("stop", ["name": "web"])
        #expect(stopped)
        #expect(units.units.isEmpty)
        let (deleted, _) = try await call("delete", ["name": "web"])
        #expect(deleted)
        (_, list) = try await call("list")
        states = (list["workspaces"] as? [[String: Any]])?.map { "\($0["unit"] ?? "")" }
        #expect(states?.count == 1)
        #expect(FileManager.default.fileExists(atPath: project), "the project directory is never deleted by the broker")
    }

    @Test func studiodWithoutATicketIsRefused() async throws {
        _ = try await call("start", ["name": "web", "projectDirectory": project])
        let studiod = PeerCredentials(pid: 1, uid: 999_999, gid: 999_999)
        let (ok, error) = try await call("list", as: studiod)
        #expect(!ok)
        #expect(error["code"] as? String == "forbidden")
        #expect((error["message"] as? String)?.contains("login grant") == true)
    }

    @Test(.enabled(if: getuid() == 0, "acts as another user, which needs root"))
    func otherUsersAreRefused() async throws {
        _ = try await call("start", ["name": "web", "projectDirectory": project])
        let nobody = try #require(UserAccount.named("nobody"))
        let stranger = PeerCredentials(pid: 1, uid: nobody.uid, gid: nobody.gid)
        for op in ["stop", "status", "delete", "restart"] {
            let (allowed, refusal) = try await call(op, ["owner": me.name, "name": "web"], as: stranger)
            #expect(!allowed, "\(op)")
            #expect(refusal["code"] as? String == "forbidden")
        }
        let (listed, refusal) = try await call("list", as: stranger)
        #expect(!listed, "nobody cannot log in (nologin): it gets nothing, not even an empty list")
        #expect(refusal["code"] as? String == "forbidden")
        #expect(units.units.count == 1, "the workspace still runs")
    }
}

@Suite struct ProjectDirectoryTests {
    @Test(.enabled(if: getuid() == 0, "checks on another user's behalf, which needs root"))
    func anUnsearchableParentHidesWhetherSomethingExists() throws {
        let nobody = try #require(UserAccount.named("nobody"))
        let root = NSTemporaryDirectory() + "studio-private-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: root + "/exists", withIntermediateDirectories: true)
        chmod(root, 0o700)
        defer { try? FileManager.default.removeItem(atPath: root) }
        for path in [root + "/exists", root + "/missing"] {
            #expect {
                _ = try ProjectDirectory.validate(path, for: nobody)
            } throws: { error in
                "\(error)".contains("is not reachable by nobody")
            }
        }
    }
}
