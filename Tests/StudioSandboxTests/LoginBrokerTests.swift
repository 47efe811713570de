import Foundation
import Logging
import StudioCore
import StudioNet
import StudioStore
import Testing
@testable import StudioSandbox

/// Web logins in the broker: PAM's answer (a double here), grants, their end, rate limiting, tickets.
@Suite final class LoginBrokerTests: Sendable {
    let store: WorkspaceStore
    let broker: Broker
    let me: UserAccount
    /// studiod, as the broker knows it.
    let studiod = PeerCredentials(pid: 4242, uid: 999_999, gid: 999_999)
    let clock = Clock()

    final class Clock: @unchecked Sendable {
        private let lock = NSLock()
        private var value = 1_700_000_000.0
        var now: Double { lock.withLock { value } }
        func advance(_ seconds: Double) { lock.withLock { value += seconds } }
    }

    init() throws {
        me = try #require(UserAccount.withUID(getuid()))
        store = try WorkspaceStore()
        let shell = me.shell
        var config = StudioConfig()
        config.sessionIdleSeconds = 600
        config.sessionLifetimeSeconds = 3600
        let clock = self.clock
        var environment = BrokerEnvironment(
            loadConfig: { [config] in config }, loadTemplates: { TemplateCatalog(templates: ["default": Template(name: "default")]) },
            store: store, units: FakeUnitManager(), runtime: RuntimeDirectories(root: NSTemporaryDirectory() + "studio-login-\(UUID().uuidString.prefix(8))", changeOwner: false),
            agentProgram: "/usr/lib/studio/studio-agent", studioUID: 999_999, idledUID: 999_998,
            readSystemFile: { path in
                switch path {
                case "/etc/login.defs": "UID_MIN 0\nUID_MAX 4294967294\n"
                case "/etc/shells": "/bin/sh\n\(shell)\n"
                default: nil
                }
            },
            now: { clock.now })
        let name = me.name
        environment.authenticate = { user, password, _ in
            user == name && password == "right horse" ? .success : .denied(reason: "Authentication failure")
        }
        broker = Broker(logger: Logger(label: "test"), environment: environment)
    }

    func call(_ op: String, _ params: [String: Any] = [:], grant: String? = nil, as who: PeerCredentials? = nil) async throws -> (Bool, [String: Any]) {
        var request: [String: Any] = ["v": 1, "op": op, "params": params, "remote": "203.0.113.7"]
        if let grant { request["grant"] = grant }
        let answer = await broker.handle(line: Array(try JSONSerialization.data(withJSONObject: request)), caller: who ?? studiod)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(answer)) as? [String: Any])
        let ok = object["ok"] as? Bool ?? false
        return (ok, try #require((ok ? object["result"] : object["error"]) as? [String: Any]))
    }

    func login(_ password: String = "right horse", user: String? = nil) async throws -> (Bool, [String: Any]) {
        try await call("login", ["username": user ?? me.name, "password": password, "remoteAddress": "203.0.113.7"])
    }

    @Test func aLoginGivesAGrantThatActsAsTheUser() async throws {
        let (ok, result) = try await login()
        #expect(ok, "\(result)")
        let token = try #require(result["token"] as? String)
        #expect(token.count == 43)
        let session = try #require(result["session"] as? [String: Any])
        #expect((session["user"] as? [String: Any])?["name"] as? String == me.name)
        #expect(session["expiresAt"] as? Double == clock.now + 3600)
        let (listed, list) = try await call("list", grant: token)
        #expect(listed, "\(list)")
        #expect((list["workspaces"] as? [Any])?.isEmpty == true)
        let (known, info) = try await call("session", grant: token)
        #expect(known)
        #expect((info["user"] as? [String: Any])?["uid"] as? Int == Int(me.uid))
    }

    @Test func wrongPasswordAndUnknownUserGetTheSameAnswer() async throws {
        let (ok1, wrong) = try await login("wrong")
        let (ok2, unknown) = try await login("right horse", user: "nosuchuserhere")
        #expect(!ok1 && !ok2)
        #expect(wrong["code"] as? String == "unauthorized")
        #expect(unknown["code"] as? String == "unauthorized")
        #expect(wrong["message"] as? String == unknown["message"] as? String)
        #expect(wrong["message"] as? String == "wrong user name or password")
    }

    @Test func fiveFailuresLockTheAccountForTheRestOfTheWindow() async throws {
        for _ in 0..<LoginPolicy.failuresPerAccount {
            let (ok, _) = try await login("wrong")
            #expect(!ok)
            clock.advance(10)
        }
        // Even the right password is refused now, without asking PAM.
        let (ok, refusal) = try await login()
        #expect(!ok)
        #expect(refusal["code"] as? String == "rate_limited")
        // The first failure was 50 s ago: it ages out of the 300 s window in 250 s.
        #expect(refusal["retryAfterSeconds"] as? Int == 250)
        clock.advance(251)
        let (again, result) = try await login()
        #expect(again, "\(result)")
    }

    @Test func logoutEndsTheGrantEverywhere() async throws {
        let token = try #require(try await login().1["token"] as? String)
        let (out, _) = try await call("logout", grant: token)
        #expect(out)
        let (after, refusal) = try await call("list", grant: token)
        #expect(!after)
        #expect(refusal["code"] as? String == "unauthorized")
    }

    @Test func aGrantEndsWhenIdleOrOld() async throws {
        let token = try #require(try await login().1["token"] as? String)
        clock.advance(599)
        #expect(try await call("session", grant: token).0, "used within the idle timeout")
        clock.advance(599)
        #expect(try await call("session", grant: token).0, "still within the idle timeout of its last use")
        clock.advance(601)
        let (ok, refusal) = try await call("session", grant: token)
        #expect(!ok)
        #expect(refusal["code"] as? String == "unauthorized")
    }

    @Test func onlyStudiodPresentsGrantsOrLogsPeopleIn() async throws {
        let token = try #require(try await login().1["token"] as? String)
        let someone = PeerCredentials(pid: 1, uid: 12345, gid: 12345)
        let (ok, refusal) = try await call("list", grant: token, as: someone)
        #expect(!ok)
        #expect(refusal["code"] as? String == "forbidden")
        let (loggedIn, refused) = try await call("login", ["username": me.name, "password": "right horse", "remoteAddress": "x"], as: someone)
        #expect(!loggedIn)
        #expect(refused["code"] as? String == "forbidden")
        let (bare, unauthorized) = try await call("session")
        #expect(!bare)
        #expect(unauthorized["code"] as? String == "unauthorized")
    }

    @Test func aTicketWorksOnceAndOnlyForItsApp() async throws {
        let token = try #require(try await login().1["token"] as? String)
        try store.insert(WorkspaceDefinition(
            identity: WorkspaceIdentity(owner: me.name, uid: me.uid, name: try WorkspaceName("web")), projectDirectory: "/tmp",
            template: "default", limits: ResourceLimits(), createdAt: clock.now))
        let (issued, ticket) = try await call("ticket", ["name": "web", "app": "code"], grant: token)
        #expect(issued, "\(ticket)")
        let value = try #require(ticket["token"] as? String)
        let (wrongApp, refusal) = try await call("redeem", ["ticket": value, "owner": me.name, "name": "web", "app": "other"])
        #expect(!wrongApp)
        #expect(refusal["code"] as? String == "unauthorized")
        // Presented once (for the wrong app), it is gone.
        let (again, _) = try await call("redeem", ["ticket": value, "owner": me.name, "name": "web", "app": "code"])
        #expect(!again)
        let fresh = try #require(try await call("ticket", ["name": "web", "app": "code"], grant: token).1["token"] as? String)
        let (redeemed, app) = try await call("redeem", ["ticket": fresh, "owner": me.name, "name": "web", "app": "code"])
        #expect(redeemed, "\(app)")
        let appToken = try #require(app["token"] as? String)
        // An app grant is not a login: it cannot list workspaces.
        let (listed, _) = try await call("list", grant: appToken)
        #expect(!listed)
        // It opens its app (here the workspace is stopped, so the answer is conflict, past the grant check)...
        let connect: [String: Any] = ["name": "web", "request": ["v": 1, "op": "app", "app": "code"]]
        let (_, before) = try await call("connect", connect, grant: appToken)
        #expect(before["code"] as? String == "conflict", "\(before)")
        // ...and nothing else,
        let (_, terminal) = try await call("connect", ["name": "web", "request": ["v": 1, "op": "attach"]], grant: appToken)
        #expect(terminal["code"] as? String == "forbidden", "\(terminal)")
        // and it ends with its session.
        _ = try await call("logout", grant: token)
        let (_, after) = try await call("connect", connect, grant: appToken)
        #expect(after["code"] as? String == "unauthorized", "\(after)")
    }
}
