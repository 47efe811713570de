import NIOCore

/// Splits a byte stream into `\n`-terminated lines (without the newline), refusing lines over a size limit so a
/// client cannot make the server buffer without bound.
public struct LineFrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = ByteBuffer

    /// Raised when a line grows past the limit; the connection should get an error and be closed.
    public struct LineTooLong: Error, CustomStringConvertible {
        public var limit: Int
        public var description: String { "request longer than \(limit) bytes" }
    }

    let maxLength: Int
    private var scanned = 0

    public init(maxLength: Int) {
        self.maxLength = maxLength
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let view = buffer.readableBytesView
        if let newline = view.dropFirst(scanned).firstIndex(of: UInt8(ascii: "\n")) {
            let length = newline - view.startIndex
            guard length <= maxLength else { throw LineTooLong(limit: maxLength) }
            let line = buffer.readSlice(length: length)!
            buffer.moveReaderIndex(forwardBy: 1)
            scanned = 0
            context.fireChannelRead(Self.wrapInboundOut(line))
            return .continue
        }
        scanned = view.count
        if scanned > maxLength { throw LineTooLong(limit: maxLength) }
        return .needMoreData
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        // A final line without a newline is still a request.
        if seenEOF, buffer.readableBytes > 0 {
            guard buffer.readableBytes <= maxLength else { throw LineTooLong(limit: maxLength) }
            context.fireChannelRead(Self.wrapInboundOut(buffer.readSlice(length: buffer.readableBytes)!))
        }
        return .needMoreData
    }
}
