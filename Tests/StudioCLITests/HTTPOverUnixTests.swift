import Testing
@testable import StudioCLI

@Suite struct HTTPOverUnixTests {
    @Test func parsesContentLengthBodies() throws {
        let response = try HTTPOverUnix.parse(Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: b\r\n\r\n{}trailing".utf8))
        #expect(response.status == 200)
        #expect(response.headers["x-a"] == "b")
        #expect(response.body == Array("{}".utf8))
    }

    @Test func parsesChunkedBodies() throws {
        let raw = "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\n\r\n"
        let response = try HTTPOverUnix.parse(Array(raw.utf8))
        #expect(response.status == 404)
        #expect(String(decoding: response.body, as: UTF8.self) == "Wikipedia")
    }

    @Test func rejectsWhatIsNotHTTP() {
        #expect(throws: HTTPOverUnix.ProtocolError.self) { try HTTPOverUnix.parse(Array("SSH-2.0-OpenSSH\r\n\r\n".utf8)) }
        #expect(throws: HTTPOverUnix.ProtocolError.self) { try HTTPOverUnix.parse(Array("HTTP/1.1 200 OK\r\n".utf8)) }
    }

    @Test func uptimeShowsTheTwoLargestUnits() {
        #expect(formatUptime(3) == "3s")
        #expect(formatUptime(250) == "4m 10s")
        #expect(formatUptime(7500) == "2h 5m")
        #expect(formatUptime(3 * 86400 + 4 * 3600 + 5) == "3d 4h")
    }
}
