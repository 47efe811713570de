import StudioCore

/// A minimal HTTP/1.1 client over a unix socket, for talking to studiod's local socket.
struct HTTPOverUnix {
    struct Response {
        var status: Int
        var headers: [String: String]
        var body: [UInt8]
    }

    /// A malformed answer from the server.
    struct ProtocolError: Error, CustomStringConvertible {
        var description: String
    }

    let socketPath: String

    /// Sends `GET path` and returns the whole response.
    func get(_ path: String) throws -> Response {
        let socket = try UnixSocket(path: socketPath)
        try socket.write(Array("GET \(path) HTTP/1.1\r\nHost: localhost\r\nUser-Agent: studioctl\r\nConnection: close\r\n\r\n".utf8))
        return try Self.parse(try socket.readToEnd())
    }

    /// Parses a complete response (status line, headers, body by Content-Length, chunked, or to the end).
    static func parse(_ data: [UInt8]) throws -> Response {
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        guard let end = data.firstRange(of: separator) else { throw ProtocolError(description: "incomplete HTTP response from studiod") }
        let head = String(decoding: data[..<end.lowerBound], as: UTF8.self).split(separator: "\r\n", omittingEmptySubsequences: false)
        let statusParts = head.first?.split(separator: " ") ?? []
        guard statusParts.count >= 2, statusParts[0].hasPrefix("HTTP/1."), let status = Int(statusParts[1]) else {
            throw ProtocolError(description: "not an HTTP response from studiod")
        }
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingWhitespace()
        }
        var body = Array(data[end.upperBound...])
        if headers["transfer-encoding"]?.lowercased() == "chunked" {
            body = try dechunk(body)
        } else if let length = headers["content-length"].flatMap(Int.init), length <= body.count {
            body = Array(body[..<length])
        }
        return Response(status: status, headers: headers, body: body)
    }

    static func dechunk(_ data: [UInt8]) throws -> [UInt8] {
        var out: [UInt8] = []
        var rest = data[...]
        while let lineEnd = rest.firstRange(of: Array("\r\n".utf8)) {
            let sizeText = String(decoding: rest[..<lineEnd.lowerBound], as: UTF8.self).split(separator: ";").first ?? ""
            guard let size = Int(sizeText.trimmingWhitespace(), radix: 16) else { throw ProtocolError(description: "bad chunk in response") }
            if size == 0 { return out }
            let start = lineEnd.upperBound
            guard rest.distance(from: start, to: rest.endIndex) >= size + 2 else { throw ProtocolError(description: "truncated chunk in response") }
            out += rest[start..<rest.index(start, offsetBy: size)]
            rest = rest[rest.index(start, offsetBy: size + 2)...]
        }
        throw ProtocolError(description: "truncated chunked response")
    }
}
