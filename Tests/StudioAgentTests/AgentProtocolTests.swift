import Foundation
import StudioCore
import Testing
@testable import StudioCLI
@testable import StudioAgent
@testable import StudioSandbox

@Suite struct AgentFrameTests {
    static let frames: [AgentFrame] = [
        .input(Array("ls\r".utf8)), .output([0, 1, 255]), .stderr([]), .resize(cols: 300, rows: 2),
        .exit(7), .exit(-1), .error("nope ✗"), .eof,
    ]

    @Test func framesSurviveTheWireEvenOneByteAtATime() throws {
        var decoder = AgentFrameDecoder()
        var decoded: [AgentFrame] = []
        for byte in Self.frames.flatMap(\.encoded) {
            decoder.feed([byte])
            while let frame = try decoder.next() { decoded.append(frame) }
        }
        #expect(decoded == Self.frames)
    }

    @Test func theHeaderIsTypeThenBigEndianLength() {
        #expect(AgentFrame.output(Array("hi".utf8)).encoded == [2, 0, 0, 0, 2, 0x68, 0x69])
        #expect(AgentFrame.resize(cols: 0x0102, rows: 0x0304).encoded == [4, 0, 0, 0, 4, 1, 2, 3, 4])
        #expect(AgentFrame.exit(7).encoded == [5, 0, 0, 0, 4, 0, 0, 0, 7])
    }

    @Test func badStreamsAreRefused() {
        var unknown = AgentFrameDecoder()
        unknown.feed([99, 0, 0, 0, 0])
        #expect(throws: AgentFrameDecoder.Failure.unknownType(99)) { try unknown.next() }

        var huge = AgentFrameDecoder()
        huge.feed([1, 0x7f, 0xff, 0xff, 0xff])
        #expect(throws: AgentFrameDecoder.Failure.tooLarge(0x7fff_ffff)) { try huge.next() }

        var shortResize = AgentFrameDecoder()
        shortResize.feed([4, 0, 0, 0, 2, 0, 80])
        #expect(throws: AgentFrameDecoder.Failure.badPayload(.resize)) { try shortResize.next() }
    }

    @Test func requestsAreOneJSONLineWithVersionAndOp() throws {
        let json = try JSONEncoder().encode(AgentRequest.exec(["make", "test"], tty: true, cols: 80, rows: 24))
        let object = try #require(JSONSerialization.jsonObject(with: json) as? [String: Any])
        #expect(object["v"] as? Int == 1)
        #expect(object["op"] as? String == "exec")
        #expect(object["argv"] as? [String] == ["make", "test"])
        #expect(!String(decoding: json, as: UTF8.self).contains("\n"))
    }

    @Test(arguments: ["main", "build", "a.b_c-1", String(repeating: "x", count: 64)])
    func validTerminalNames(name: String) {
        #expect(AgentProtocol.isValidTerminalName(name))
    }

    @Test(arguments: ["", ".hidden", "-x", "a/b", "a b", String(repeating: "x", count: 65), "ü"])
    func invalidTerminalNames(name: String) {
        #expect(!AgentProtocol.isValidTerminalName(name))
    }
}

@Suite struct DetachKeyTests {
    @Test func ctrlBackslashThenDDetachesAfterSendingWhatCameBefore() {
        var filter = DetachKeyFilter()
        let (send, detach) = filter.filter(Array("ls".utf8) + [0x1c, UInt8(ascii: "d")] + Array("more".utf8))
        #expect(send == Array("ls".utf8))
        #expect(detach)
    }

    @Test func theSequenceMaySpanReads() {
        var filter = DetachKeyFilter()
        #expect(filter.filter([UInt8(ascii: "a"), 0x1c]) == ([UInt8(ascii: "a")], false))
        #expect(filter.filter([UInt8(ascii: "d")]) == ([], true))
    }

    @Test func otherKeysAfterThePrefixGoThrough() {
        var filter = DetachKeyFilter()
        #expect(filter.filter([0x1c, 0x1c]) == ([0x1c], false))
        #expect(filter.filter([0x1c, UInt8(ascii: "x")]) == ([0x1c, UInt8(ascii: "x")], false))
        #expect(filter.filter(Array("d".utf8)) == (Array("d".utf8), false))
    }
}

@Suite struct ScrollbackTests {
    @Test func keepsTheLastBytes() {
        var scrollback = Scrollback(capacity: 8)
        scrollback.append(Array("hello".utf8))
        #expect(scrollback.contents == Array("hello".utf8))
        scrollback.append(Array(" world".utf8))
        #expect(scrollback.contents == Array("lo world".utf8))
        scrollback.append(Array("0123456789".utf8))
        #expect(scrollback.contents == Array("23456789".utf8))
    }

    @Test func replayDoesNotStartInsideACharacter() {
        var scrollback = Scrollback(capacity: 4)
        scrollback.append(Array("aé€".utf8))  // 1 + 2 + 3 bytes; the last 4 are é's second byte and €
        #expect(String(decoding: scrollback.contents, as: UTF8.self) == "€")
    }

    @Test func zeroCapacityKeepsNothing() {
        var scrollback = Scrollback(capacity: 0)
        scrollback.append([1, 2, 3])
        #expect(scrollback.contents.isEmpty)
    }
}
