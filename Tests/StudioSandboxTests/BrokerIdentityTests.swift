import Foundation
import Logging
import StudioCore
import StudioNet
import StudioStore
import Testing
@testable import StudioSandbox

/// Who may ask the broker what: studio-idled may only list, look at and stop (and must say why), values out of range are refused
/// where they enter, names that are no names never reach a lookup or the audit trail, template secrets stay secret.
extension WorkspaceBrokerTests {
    var idled: PeerCredentials { PeerCredentials(pid: 7, uid: 999_998, gid: 999_998) }

    @Test func studioIdledMayOnlyListLookAndStopAndMustSayWhy() async throws {
        _ = try await call("start", ["name": "web", "projectDirectory": project])
        for op in ["start", "create", "restart", "delete", "list", "logs", "templates", "set", "keep"] {
            var params: [String: Any] = ["owner": me.name, "name": "web"]
            if op == "set" { params["limits"] = ["memoryMaxBytes": 1 << 30] }
            if op == "keep" { params["seconds"] = 3600 }
            if op == "create" || op == "start" { params["projectDirectory"] = project }
            let (ok, error) = try await call(op, params, as: idled)
            #expect(!ok, "\(op)")
            #expect(error["code"] as? String == "forbidden", "\(op): \(error)")
        }
        #expect(units.units.count == 1, "still running after everything studio-idled may not do")
        let (looked, info) = try await call("status", ["owner": me.name, "name": "web"], as: idled)
        #expect(looked, "\(info)")
        let (listed, all) = try await call("list", ["all": true], as: idled)
        #expect(listed, "\(all)")

        let (noReason, error) = try await call("stop", ["owner": me.name, "name": "web"], as: idled)
        #expect(!noReason)
        #expect(error["code"] as? String == "bad_request")
        let (noOwner, ownerError) = try await call("stop", ["name": "web", "reason": "idle"], as: idled)
        #expect(!noOwner)
        #expect(ownerError["code"] as? String == "bad_request")
        #expect(units.units.count == 1)

        let (stopped, result) = try await call("stop", ["owner": me.name, "name": "web", "reason": "idle for 2h"], as: idled)
        #expect(stopped, "\(result)")
        #expect(units.units.isEmpty)
        let (version, _) = try await call("version", as: idled)
        #expect(version)
    }

    @Test func limitsOutOfRangeAreRefusedWhereTheyEnter() async throws {
        _ = try await call("start", ["name": "web", "projectDirectory": project])
        let bad: [[String: Any]] = [
            ["tasksMax": UInt64.max], ["tasksMax": UInt64(1) << 63], ["tasksMax": 0], ["cpus": -1], ["cpus": 1e308],
            ["cpus": 0], ["memoryMaxBytes": 0], ["memoryMaxBytes": UInt64.max], ["memoryMaxBytes": 1024],
            ["cpuWeight": 0], ["cpuWeight": 10001], ["ioWeight": 0],
        ]
        for limits in bad {
            let (ok, error) = try await call("set", ["name": "web", "limits": limits])
            #expect(!ok, "\(limits)")
            #expect(error["code"] as? String == "bad_request", "\(limits): \(error)")
            let (created, _) = try await call("start", ["name": "other", "projectDirectory": project, "limits": limits])
            #expect(!created, "\(limits)")
        }
        #expect(try store.list(uid: nil).count == 1, "no row for any of them")
        #expect(try store.find(uid: getuid(), name: WorkspaceName("web"))?.limits == ResourceLimits())
        let (tooMany, error) = try await call("logs", ["name": "web", "lines": 1_000_001])
        #expect(!tooMany)
        #expect(error["code"] as? String == "bad_request")
    }

    @Test func anOwnerThatIsNoNameIsRefusedAndNotRecorded() async throws {
        let (ok, error) = try await call("stop", ["owner": String(repeating: "x\n", count: 30_000), "name": "web"])
        #expect(!ok)
        #expect(error["code"] as? String == "bad_request")
        #expect(((error["message"] as? String)?.count ?? .max) < 200, "the message does not repeat the input")
    }

    @Test func templatesDoNotHandOutEnvironmentValues() async throws {
        let (ok, result) = try await call("templates")
        #expect(ok)
        let answer = String(decoding: try JSONSerialization.data(withJSONObject: result), as: UTF8.self)
        #expect(answer.contains("API_TOKEN"), "the name is listed")
        #expect(!answer.contains("hunter2"))
    }
}

@Suite struct AccountPolicyTests {
    func policy(shadow: String = "", shells: String = "/bin/sh\n/bin/bash\n/usr/sbin/nologin\n") -> AccountPolicy {
        AccountPolicy(
            readFile: { path in
                switch path {
                case "/etc/login.defs": "# comment\nUID_MIN\t\t 1000\nUID_MAX\t\t60000\n"
                case "/etc/shells": shells
                case "/etc/shadow": shadow
                default: nil
                }
            },
            today: { 20_000 })
    }

    func account(_ name: String, uid: UInt32, shell: String = "/bin/bash") -> UserAccount {
        UserAccount(name: name, uid: uid, gid: uid, home: "/home/\(name)", shell: shell)
    }

    func refusal(_ account: UserAccount, _ policy: AccountPolicy) -> String? {
        do {
            try policy.check(account, group: nil)
            return nil
        } catch {
            return error.code == .forbidden ? error.message : "code \(error.code)"
        }
    }

    @Test func regularLoginAccountsQualify() {
        let p = policy(shadow: "alice:$y$j9T$hash:19000:0:99999:7:::\nkeys:!:19000::::::\nstar:*:19000::::::\n")
        #expect(refusal(account("alice", uid: 1000), p) == nil)
        #expect(refusal(account("keys", uid: 1001), p) == nil, "no password (keys only) is not locked")
        #expect(refusal(account("star", uid: 1002), p) == nil)
        #expect(refusal(account("dash", uid: 1003, shell: ""), p) == nil, "an empty shell is /bin/sh")
    }

    @Test func systemNoLoginLockedAndExpiredAccountsDoNot() {
        let p = policy(shadow: "carol:!$y$j9T$hash:19000:0:99999:7:::\ndave:$y$hash:19000:0:99999:7::1:\n")
        #expect(refusal(account("root", uid: 0), p)?.contains("system account") == true)
        #expect(refusal(account("www-data", uid: 33), p)?.contains("system account") == true)
        #expect(refusal(account("nobody", uid: 65534), p)?.contains("system account") == true)
        #expect(refusal(account("nolo", uid: 1004, shell: "/usr/sbin/nologin"), p)?.contains("not in /etc/shells") == true)
        #expect(refusal(account("fals", uid: 1005, shell: "/bin/false"), p)?.contains("not in /etc/shells") == true)
        #expect(refusal(account("carol", uid: 1006), p)?.contains("locked") == true)
        #expect(refusal(account("dave", uid: 1007), p)?.contains("expired") == true)
    }
}
