import Foundation
import Logging
import StudioCore
import StudioNet
import Testing
@testable import StudioAgent
@testable import StudioSandbox

@Suite struct AgentAccessTests {
    let access = AgentAccess(owner: 1000)

    @Test func theOwnerAndRootMayConnect() {
        #expect(access.allows(PeerCredentials(pid: 1, uid: 1000, gid: 1000)))
        #expect(access.allows(PeerCredentials(pid: 1, uid: 0, gid: 0)))
    }

    /// Other users, and services such as studiod or studio-idled, are not trusted by their uid.
    @Test func othersMayNot() {
        #expect(!access.allows(PeerCredentials(pid: 1, uid: 1001, gid: 1000)))
        #expect(!access.allows(PeerCredentials(pid: 1, uid: 998, gid: 998)))
        #expect(!access.allows(PeerCredentials(pid: 1, uid: 997, gid: 997)))
    }

    /// The check runs before the request is even read: a stranger learns nothing, and starts nothing.
    @Test func theAgentRefusesAStrangerWithForbidden() async throws {
        let spec = AgentSpec(
            workspace: WorkspaceIdentity(owner: "alice", uid: 1000, name: try WorkspaceName("demo")),
            projectDirectory: "/tmp", socketPath: "/tmp/unused.sock", shell: "/bin/sh")
        let agent = Agent(spec: spec, access: access, logger: Logger(label: "test"))
        for line in [#"{"v":1,"op":"exec","argv":["touch","/tmp/pwned"]}"#, "garbage"] {
            guard case .answer(let response) = await agent.open(line: Array(line.utf8)[...], caller: PeerCredentials(pid: 5, uid: 4242, gid: 4242)) else {
                Issue.record("a stranger got a session")
                continue
            }
            #expect(response.ok == false)
            #expect(response.error?.code == .forbidden)
        }
        guard case .answer(let own) = await agent.open(line: Array(#"{"v":1,"op":"apps"}"#.utf8)[...], caller: PeerCredentials(pid: 5, uid: 1000, gid: 1000)) else {
            Issue.record("apps must answer with one line")
            return
        }
        #expect(own.ok && own.apps == [])
    }
}
