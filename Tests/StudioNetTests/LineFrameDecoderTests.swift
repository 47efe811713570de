import NIOCore
import NIOEmbedded
import Testing
@testable import StudioNet

@Suite struct LineFrameDecoderTests {
    func channel(max: Int) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineFrameDecoder(maxLength: max)))
        return channel
    }

    func lines(_ channel: EmbeddedChannel) throws -> [String] {
        var out: [String] = []
        while let buffer = try channel.readInbound(as: ByteBuffer.self) { out.append(String(buffer: buffer)) }
        return out
    }

    @Test func splitsLinesAcrossAndWithinReads() throws {
        let channel = try channel(max: 100)
        try channel.writeInbound(ByteBuffer(string: "{\"a\":1}\n{\"b\""))
        #expect(try lines(channel) == ["{\"a\":1}"])
        try channel.writeInbound(ByteBuffer(string: ":2}\n\nlast"))
        #expect(try lines(channel) == ["{\"b\":2}", ""])
        _ = try channel.finish()
        #expect(try lines(channel) == ["last"], "a final line without a newline still counts")
    }

    @Test func refusesALineOverTheLimitEvenBeforeItsNewline() throws {
        let channel = try channel(max: 8)
        #expect(throws: LineFrameDecoder.LineTooLong.self) {
            try channel.writeInbound(ByteBuffer(string: "0123456789"))
        }
        let other = try self.channel(max: 8)
        #expect(throws: LineFrameDecoder.LineTooLong.self) {
            try other.writeInbound(ByteBuffer(string: "0123456789\n"))
        }
        let exact = try self.channel(max: 8)
        try exact.writeInbound(ByteBuffer(string: "01234567\n"))
        #expect(try lines(exact) == ["01234567"])
    }
}
