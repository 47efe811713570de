#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import HTTPTypes
import WSCore
import Logging
import NIOCore
import NIOWebSocket
import StudioClient
import StudioCore
import StudioCrypto

/// WebSockets of apps (code-server's and Jupyter's terminals and kernels): the browser's side is Hummingbird's
/// WebSocket server; the app's side is a WebSocket client on the relayed connection to the app's socket, speaking the
/// RFC 6455 frames below. Messages cross whole (up to 16 MiB).
enum AppWebSocket {
    static let maxMessage = 16 << 20

    /// Whether to take this upgrade on the apps origin, and the app and path it is for.
    static func target(head: HTTPRequest) -> (AppProxy.Target, token: String)? {
        guard let path = head.path else { return nil }
        let (route, _) = TerminalSocket.split(path)
        let query = path.firstIndex(of: "?").map { String(path[path.index(after: $0)...]) }
        guard let target = AppProxy.target(path: route, query: query),
              let token = AppProxy.cookie(AppProxy.appCookie, in: head.headerFields) else { return nil }
        return (target, token)
    }

    /// Relays one WebSocket between the browser and the app.
    static func relay(
        target: AppProxy.Target, token: String, head: HTTPRequest, settings: WebSettings, remote: String,
        inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, logger: Logger
    ) async {
        let broker = BrokerConnection(socketPath: settings.brokerSocket, grant: token, remote: remote)
        do {
            try await broker.connect(ConnectParams(owner: target.owner, name: target.name, request: .app(target.app))) { stream in
                try await stream.write(ByteBuffer(string: handshake(target: target, head: head)))
                // The app's 101 and whatever frames follow it in the same read.
                var received: [UInt8] = []
                var parsed: (HTTPUpstream.Head, Int)?
                while parsed == nil {
                    guard let bytes = try await stream.nextBytes() else { throw RequestError.unavailable("the app closed the WebSocket handshake") }
                    received += bytes.readableBytesView
                    parsed = try HTTPUpstream.parseHead(received)
                }
                guard let (answer, start) = parsed, answer.status == 101 else {
                    throw RequestError.unavailable("the app refused the WebSocket (HTTP \(parsed?.0.status ?? 0))")
                }
                var decoder = FrameDecoder()
                decoder.feed(received[start...])
                let app = stream.outbound
                let appChannel = stream.channel
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        defer { appChannel.close(promise: nil) }
                        for try await message in inbound.messages(maxSize: maxMessage) {
                            switch message {
                            case .text(let text): try await app.write(ByteBuffer(bytes: try frame(opcode: 0x1, Array(text.utf8))))
                            case .binary(let bytes): try await app.write(ByteBuffer(bytes: try frame(opcode: 0x2, Array(bytes.readableBytesView))))
                            }
                        }
                        try? await app.write(ByteBuffer(bytes: try frame(opcode: 0x8, [0x03, 0xe8])))
                    }
                    reading: while true {
                        while let (opcode, payload) = try decoder.next() {
                            switch opcode {
                            case 0x1: try await outbound.write(.text(String(decoding: payload, as: UTF8.self)))
                            case 0x2: try await outbound.write(.binary(ByteBuffer(bytes: payload)))
                            case 0x9: try await app.write(ByteBuffer(bytes: try frame(opcode: 0xA, payload)))
                            case 0x8: break reading
                            default: break
                            }
                        }
                        guard let bytes = try await stream.nextBytes() else { break }
                        decoder.feed(bytes.readableBytesView)
                    }
                    try? await outbound.close(.normalClosure, reason: nil)
                    group.cancelAll()
                }
            }
        } catch {
            logger.debug("app WebSocket ended", metadata: ["error": "\(error)"])
            try? await outbound.close(.policyViolation, reason: "the app cannot be reached; open it from the dashboard again")
        }
    }

    /// The app's handshake: the browser's request line and headers (without Studio's cookies, with a fresh key).
    static func handshake(target: AppProxy.Target, head: HTTPRequest) throws -> String {
        var lines = ["GET \(target.rest) HTTP/1.1"]
        let skip: Set<String> = ["cookie", "sec-websocket-key", "sec-websocket-extensions", "connection", "upgrade", "sec-websocket-version"]
        for field in head.headerFields where !skip.contains(field.name.canonicalName) && !field.name.canonicalName.hasPrefix("x-forwarded-") {
            lines.append("\(field.name.rawName): \(field.value)")
        }
        if let host = head.authority { lines.append("Host: \(host)") }
        if let cookies = AppProxy.appsOwnCookies(head.headerFields) { lines.append("Cookie: \(cookies)") }
        lines += [
            "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13",
            "Sec-WebSocket-Key: \(base64(try Secrets.randomBytes(16)))",
            "X-Forwarded-Prefix: \(String(target.prefix.dropLast()))",
        ]
        return lines.joined(separator: "\r\n") + "\r\n\r\n"
    }

    /// One masked client frame.
    static func frame(opcode: UInt8, _ payload: [UInt8]) throws -> [UInt8] {
        var out: [UInt8] = [0x80 | opcode]
        if payload.count < 126 {
            out.append(0x80 | UInt8(payload.count))
        } else if payload.count <= 0xffff {
            out += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xff)]
        } else {
            out.append(0x80 | 127)
            out += (0..<8).reversed().map { UInt8(truncatingIfNeeded: payload.count >> ($0 * 8)) }
        }
        let mask = try Secrets.randomBytes(4)
        out += mask
        out += payload.enumerated().map { $0.element ^ mask[$0.offset & 3] }
        return out
    }

    /// Whole messages from the app's (unmasked) frames; continuation frames are joined.
    struct FrameDecoder {
        var buffer: [UInt8] = []
        var message: [UInt8] = []
        var messageOpcode: UInt8 = 0

        mutating func feed(_ bytes: some Sequence<UInt8>) { buffer += bytes }

        mutating func next() throws -> (UInt8, [UInt8])? {
            while true {
                guard buffer.count >= 2 else { return nil }
                let fin = buffer[0] & 0x80 != 0, opcode = buffer[0] & 0x0f, masked = buffer[1] & 0x80 != 0
                var length = Int(buffer[1] & 0x7f), offset = 2
                if length == 126 {
                    guard buffer.count >= 4 else { return nil }
                    length = Int(buffer[2]) << 8 | Int(buffer[3]); offset = 4
                } else if length == 127 {
                    guard buffer.count >= 10 else { return nil }
                    length = buffer[2..<10].reduce(0) { $0 << 8 | Int($1) }; offset = 10
                }
                guard length >= 0, length <= AppWebSocket.maxMessage else { throw HTTPUpstream.Malformed(description: "a WebSocket frame from the app is too large") }
                let maskKey = masked ? Array(buffer[offset..<min(offset + 4, buffer.count)]) : []
                if masked { offset += 4 }
                guard buffer.count >= offset + length else { return nil }
                var payload = Array(buffer[offset..<(offset + length)])
                if masked, maskKey.count == 4 { payload = payload.enumerated().map { $0.element ^ maskKey[$0.offset & 3] } }
                buffer.removeFirst(offset + length)
                if opcode >= 0x8 { return (opcode, payload) }  // control frames are never fragmented
                if opcode != 0 { messageOpcode = opcode; message = [] }
                message += payload
                guard message.count <= AppWebSocket.maxMessage else { throw HTTPUpstream.Malformed(description: "a WebSocket message from the app is too large") }
                if fin { defer { message = [] }; return (messageOpcode, message) }
            }
        }
    }

    static func base64(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }
}
