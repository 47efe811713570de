import Foundation
import Logging
import StudioCore
import StudioNet
import Testing
@testable import StudioSandbox

@Suite struct BrokerTests {
    let broker = Broker(logger: Logger(label: "test"))
    let alice = PeerCredentials(pid: 100, uid: 1000, gid: 1000)

    func ask(_ line: String) async throws -> [String: Any] {
        let answer = await broker.handle(line: Array(line.utf8), caller: alice)
        return try #require(JSONSerialization.jsonObject(with: Data(answer)) as? [String: Any])
    }

    @Test func answersVersion() async throws {
        let answer = await broker.handle(line: Array(#"{"v":1,"op":"version"}"#.utf8), caller: alice)
        let decoded = try JSONDecoder().decode(BrokerResponse<VersionInfo>.self, from: Data(answer))
        #expect(decoded.ok)
        #expect(decoded.result == VersionInfo(version: StudioVersion.string, protocolVersion: 1))
    }

    @Test(arguments: ["", "garbage", "[]", #"{"op":"version"}"#, #"{"v":"1","op":"version"}"#, "{\"v\":1}"])
    func malformedRequestsGetBadRequest(line: String) async throws {
        let answer = try await ask(line)
        #expect(answer["ok"] as? Bool == false)
        let error = try #require(answer["error"] as? [String: Any])
        #expect(error["code"] as? String == "bad_request")
        #expect((error["message"] as? String)?.isEmpty == false)
    }

    @Test func unknownOperationsNameTheKnownOnes() async throws {
        let error = try #require(try await ask(#"{"v":1,"op":"format-disk"}"#)["error"] as? [String: Any])
        #expect(error["code"] as? String == "bad_request")
        #expect((error["message"] as? String)?.contains("version") == true)
    }

    @Test func otherProtocolVersionsAreUnsupported() async throws {
        let error = try #require(try await ask(#"{"v":9,"op":"version"}"#)["error"] as? [String: Any])
        #expect(error["code"] as? String == "unsupported")
    }
}
