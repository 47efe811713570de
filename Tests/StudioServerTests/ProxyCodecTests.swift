import NIOCore
import Testing
@testable import StudioServer

/// The app proxy's own HTTP/1.1 and WebSocket client pieces.
@Suite struct ProxyCodecTests {
    @Test func appPathsAreOwnerWorkspaceAppAndTheRest() {
        #expect(AppProxy.target(path: "/alice/web/apps/code/sub/page", query: "x=1")
            == AppProxy.Target(owner: "alice", name: "web", app: "code", rest: "/sub/page?x=1"))
        #expect(AppProxy.target(path: "/alice/web/apps/code/", query: nil)?.rest == "/")
        #expect(AppProxy.target(path: "/alice/web/apps/code", query: nil)?.prefix == "/alice/web/apps/code/")
        #expect(AppProxy.target(path: "/alice/web/files/code/", query: nil) == nil)
        #expect(AppProxy.target(path: "/alice/Web/apps/code/", query: nil) == nil, "not a workspace name")
        #expect(AppProxy.target(path: "/../web/apps/code/", query: nil) == nil)
        #expect(AppProxy.target(path: "/alice/web/apps/.hidden/", query: nil) == nil)
        #expect(AppProxy.target(path: "/", query: nil) == nil)
    }

    @Test func responseHeadsParseWithTheirBodyStart() throws {
        let bytes = Array("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello".utf8)
        let (head, start) = try #require(try HTTPUpstream.parseHead(bytes))
        #expect(head.status == 200)
        #expect(head.value("content-type") == "text/plain")
        #expect(Array(bytes[start...]) == Array("hello".utf8))
        #expect(HTTPUpstream.framing(of: head, requestMethod: "GET") == .length(5))
        #expect(HTTPUpstream.framing(of: head, requestMethod: "HEAD") == HTTPUpstream.Framing.none)
        #expect(try HTTPUpstream.parseHead(Array("HTTP/1.1 200 OK\r\nX: y\r\n".utf8)) == nil, "not complete yet")
        #expect(throws: HTTPUpstream.Malformed.self) { try HTTPUpstream.parseHead(Array("SSH-2.0-x\r\n\r\n".utf8)) }
    }

    @Test func chunkedBodiesDecodeAcrossArbitrarySplits() throws {
        let wire = Array("5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n".utf8)
        for split in 1..<wire.count {
            var decoder = HTTPUpstream.ChunkDecoder()
            var out = try decoder.feed(wire[..<split])
            out += try decoder.feed(wire[split...])
            #expect(String(decoding: out, as: UTF8.self) == "hello world", "split at \(split)")
            #expect(decoder.isDone)
        }
        var bad = HTTPUpstream.ChunkDecoder()
        #expect(throws: HTTPUpstream.Malformed.self) { try bad.feed(Array("zz\r\n".utf8)) }
    }

    @Test func clientFramesAreMaskedAndDecodeBack() throws {
        for size in [0, 5, 125, 126, 65535, 65536, 70000] {
            let payload = (0..<size).map { UInt8(truncatingIfNeeded: $0 * 7) }
            let frame = try AppWebSocket.frame(opcode: 0x2, payload)
            #expect(frame[0] == 0x82)
            #expect(frame[1] & 0x80 == 0x80, "a client's frames are masked")
            var decoder = AppWebSocket.FrameDecoder()
            decoder.feed(frame)
            let decoded = try #require(try decoder.next())
            #expect(decoded.0 == 0x2)
            #expect(decoded.1 == payload, "size \(size)")
        }
    }

    @Test func fragmentedMessagesFromTheAppAreJoinedAndControlFramesPassBetween() throws {
        // "Hel" (text, not final), a ping, "lo" (continuation, final): unmasked, as a server sends.
        let wire: [UInt8] = [0x01, 3] + Array("Hel".utf8) + [0x89, 1, 0x2a] + [0x80, 2] + Array("lo".utf8)
        var decoder = AppWebSocket.FrameDecoder()
        decoder.feed(wire.prefix(4))
        #expect(try decoder.next() == nil)
        decoder.feed(wire.dropFirst(4))
        let ping = try #require(try decoder.next())
        #expect(ping.0 == 0x9 && ping.1 == [0x2a])
        let message = try #require(try decoder.next())
        #expect(message.0 == 0x1)
        #expect(String(decoding: message.1, as: UTF8.self) == "Hello")
    }

    @Test func base64MatchesTheRFC() {
        #expect(AppWebSocket.base64(Array("".utf8)) == "")
        #expect(AppWebSocket.base64(Array("f".utf8)) == "Zg==")
        #expect(AppWebSocket.base64(Array("fo".utf8)) == "Zm8=")
        #expect(AppWebSocket.base64(Array("foobar".utf8)) == "Zm9vYmFy")
    }

    @Test func theHandoffPassesChunksInOrderAndStopsWhenTheReaderGoes() async throws {
        let handoff = Handoff()
        let producer = Task {
            for index in 0..<5 { try await handoff.put(ByteBuffer(string: "\(index)")) }
            handoff.finish()
        }
        var seen: [String] = []
        for try await chunk in handoff { seen.append(String(buffer: chunk)) }
        try await producer.value
        #expect(seen == ["0", "1", "2", "3", "4"])

        let abandoned = Handoff()
        let stuck = Task { try await abandoned.put(ByteBuffer(string: "never read")) }
        abandoned.cancel()
        await #expect(throws: CancellationError.self) { try await stuck.value }
    }
}
