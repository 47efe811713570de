import NIOCore

/// The HTTP/1.1 an app speaks on its socket, as much as the proxy needs: a request head out, a response head in,
/// and the response body's framing (length, chunked, or to the end).
enum HTTPUpstream {
    /// A parsed response head.
    struct Head: Sendable {
        var status: Int
        var reason: String
        var headers: [(String, String)]

        func value(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name }?.1
        }
    }

    struct Malformed: Error, CustomStringConvertible {
        var description: String
    }

    /// The head at the start of `bytes`, and where the body starts; nil until the blank line has arrived.
    static func parseHead(_ bytes: [UInt8]) throws -> (Head, Int)? {
        guard let end = bytes.firstRange(of: [13, 10, 13, 10]) else {
            if bytes.count > 64 * 1024 { throw Malformed(description: "the app's response head is longer than 64 KiB") }
            return nil
        }
        let lines = String(decoding: bytes[..<end.lowerBound], as: UTF8.self).split(separator: "\r\n", omittingEmptySubsequences: false)
        let status = lines.first?.split(separator: " ", maxSplits: 2) ?? []
        guard status.count >= 2, status[0].hasPrefix("HTTP/1."), let code = Int(status[1]), (100...599).contains(code) else {
            throw Malformed(description: "the app did not answer HTTP/1.1")
        }
        var headers: [(String, String)] = []
        for line in lines.dropFirst() where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { throw Malformed(description: "a malformed header from the app") }
            headers.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: " ")))
        }
        return (Head(status: code, reason: status.count > 2 ? String(status[2]) : "", headers: headers), end.upperBound)
    }

    /// How the body after a head ends.
    enum Framing: Equatable {
        case none
        case length(Int)
        case chunked
        case untilClose
    }

    static func framing(of head: Head, requestMethod: String) -> Framing {
        if requestMethod == "HEAD" || head.status == 204 || head.status == 304 || (100..<200).contains(head.status) { return .none }
        if head.value("transfer-encoding")?.lowercased().contains("chunked") == true { return .chunked }
        if let length = head.value("content-length").flatMap({ Int($0) }), length >= 0 { return .length(length) }
        return .untilClose
    }

    /// Decodes a chunked body as it arrives.
    struct ChunkDecoder {
        enum State { case size, data(Int), dataEnd, trailer, done }
        var state = State.size
        var pending: [UInt8] = []

        var isDone: Bool { if case .done = state { return true } else { return false } }

        /// Feeds bytes; returns the body bytes they complete.
        mutating func feed(_ bytes: some Sequence<UInt8>) throws -> [UInt8] {
            pending += bytes
            var out: [UInt8] = []
            var index = 0
            loop: while index < pending.count {
                switch state {
                case .size:
                    guard let lineEnd = pending[index...].firstRange(of: [13, 10]) else { break loop }
                    let text = String(decoding: pending[index..<lineEnd.lowerBound], as: UTF8.self).split(separator: ";").first ?? ""
                    guard let size = Int(text.trimmingCharacters(in: " "), radix: 16), size >= 0 else {
                        throw Malformed(description: "a malformed chunk from the app")
                    }
                    index = lineEnd.upperBound
                    state = size == 0 ? .trailer : .data(size)
                case .data(let remaining):
                    let take = min(remaining, pending.count - index)
                    out += pending[index..<(index + take)]
                    index += take
                    state = remaining - take == 0 ? .dataEnd : .data(remaining - take)
                case .dataEnd:
                    guard pending.count - index >= 2 else { break loop }
                    index += 2
                    state = .size
                case .trailer:
                    guard let lineEnd = pending[index...].firstRange(of: [13, 10]) else { break loop }
                    let empty = lineEnd.lowerBound == index
                    index = lineEnd.upperBound
                    if empty { state = .done; break loop }
                case .done:
                    break loop
                }
            }
            pending.removeFirst(index)
            return out
        }
    }

    /// Hop-by-hop headers (RFC 9110 §7.6.1), never forwarded either way, and what the proxy sets itself.
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer",
        "transfer-encoding", "upgrade", "content-length",
    ]
}
