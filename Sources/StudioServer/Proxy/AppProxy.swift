#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import HTTPTypes
import Hummingbird
import NIOCore
import StudioClient
import StudioCore
import Synchronization

/// The apps origin: `/<owner>/<workspace>/apps/<app>/…` proxied to the app's unix socket inside the workspace,
/// through the broker's relay and the agent, for the holder of that app's cookie. The cookie comes from a one-time
/// ticket the dashboard hands out (`?ticket=`); the dashboard's cookie never reaches the app.
struct AppProxy {
    let settings: WebSettings

    static let appCookie = "studio_app"

    /// Where a request on the apps origin goes.
    struct Target: Equatable {
        var owner: String
        var name: String
        var app: String
        /// The path the app sees (the prefix taken off), with the query.
        var rest: String
        var prefix: String { "/\(owner)/\(name)/apps/\(app)/" }
    }

    /// `/<owner>/<name>/apps/<app>/rest`; nil for anything else.
    static func target(path: String, query: String?) -> Target? {
        let parts = path.split(separator: "/", maxSplits: 4, omittingEmptySubsequences: false)
        guard parts.count >= 5, parts[0].isEmpty, parts[3] == "apps", UserName.isValid(String(parts[1])), !parts[1].hasPrefix("."),
              (try? WorkspaceName(String(parts[2]))) != nil else { return nil }
        let appAndRest = parts[4].split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let app = appAndRest.first, AgentProtocol.isValidTerminalName(String(app)) else { return nil }
        let rest = "/" + (appAndRest.count > 1 ? String(appAndRest[1]) : "")
        return Target(owner: String(parts[1]), name: String(parts[2]), app: String(app), rest: rest + (query.map { "?\($0)" } ?? ""))
    }

    func handle(_ request: Request, context: StudioRequestContext) async throws -> Response {
        guard let target = Self.target(path: request.uri.path, query: request.uri.query) else {
            return Self.page(.notFound, "Nothing here", "Apps are opened from the Studio dashboard.")
        }
        // /alice/web/apps/code → /alice/web/apps/code/ (the cookie's path needs the slash).
        if request.uri.path == String(target.prefix.dropLast()) {
            return Response(status: .permanentRedirect, headers: [.location: target.prefix + (request.uri.query.map { "?\($0)" } ?? "")])
        }
        let remote = settings.remoteAddress(of: request, context: context)
        if let ticket = request.uri.queryParameters["ticket"] {
            return try await redeem(String(ticket), target: target, request: request, context: context, remote: remote)
        }
        guard let token = Self.cookie(Self.appCookie, in: request.headers) else {
            return Self.page(.unauthorized, "Open this app from the dashboard", "This link needs a login: open the app from your Studio dashboard.")
        }
        let broker = BrokerConnection(socketPath: settings.brokerSocket, grant: token, remote: remote)
        do {
            return try await forward(request, target: target, broker: broker, context: context)
        } catch let error as RequestError where error.code == .unauthorized || error.code == .forbidden {
            return Self.page(.unauthorized, "Open this app from the dashboard", "Your app login ended or is for another app: open the app from your Studio dashboard again.")
        } catch let error as RequestError {
            return Self.page(.init(code: error.code.httpStatus), "The app cannot be reached", error.message)
        }
    }

    /// Exchanges a ticket for the app cookie (once) and sends the browser on without the ticket in its address bar.
    func redeem(_ ticket: String, target: Target, request: Request, context: StudioRequestContext, remote: String) async throws -> Response {
        let result: TokenResult
        do {
            result = try await BrokerConnection(socketPath: settings.brokerSocket, remote: remote).call(
                .redeem, RedeemParams(ticket: ticket, owner: target.owner, name: target.name, app: target.app), as: TokenResult.self)
        } catch let error as RequestError where error.code == .unauthorized {
            return Self.page(.unauthorized, "This link was used already", "An app link works once and for a minute: open the app from your Studio dashboard again.")
        }
        var query = request.uri.queryParameters
        query["ticket"] = nil
        let rest = query.map { "\($0.key)=\($0.value)" }.joined(separator: "&")
        var response = Response(status: .seeOther, headers: [.location: request.uri.path + (rest.isEmpty ? "" : "?\(rest)")])
        let secure = settings.scheme(of: request, context: context) == "https"
        response.setCookie(Cookie(name: Self.appCookie, value: result.token, path: target.prefix, secure: secure, httpOnly: true, sameSite: .lax))
        return response
    }

    /// One request to the app, on its own connection (`Connection: close`); the answer streams back.
    func forward(_ request: Request, target: Target, broker: BrokerConnection, context: StudioRequestContext) async throws -> Response {
        let head = Array(requestHead(request, target: target, context: context).utf8)
        let method = request.method.rawValue
        let body = request.body
        let chunked = request.headers[.contentLength] == nil && request.headers[.transferEncoding] != nil
        let handoff = Handoff()
        let answered = Once<HTTPUpstream.Head>()
        let upstream: HTTPUpstream.Head = try await withCheckedThrowingContinuation { continuation in
            answered.set(continuation)
            let params = ConnectParams(owner: target.owner, name: target.name, request: .app(target.app))
            Task {
                do {
                    try await broker.connect(params) { stream in
                        try await stream.write(ByteBuffer(bytes: head))
                        for try await chunk in body {
                            if chunked {
                                try await stream.write(ByteBuffer(string: String(chunk.readableBytes, radix: 16) + "\r\n"))
                                try await stream.write(chunk)
                                try await stream.write(ByteBuffer(string: "\r\n"))
                            } else {
                                try await stream.write(chunk)
                            }
                        }
                        if chunked { try await stream.write(ByteBuffer(string: "0\r\n\r\n")) }
                        var received: [UInt8] = []
                        var parsed: (HTTPUpstream.Head, Int)?
                        while parsed == nil {
                            guard let bytes = try await stream.nextBytes() else {
                                throw RequestError.unavailable("the app closed the connection without answering")
                            }
                            received += bytes.readableBytesView
                            parsed = try HTTPUpstream.parseHead(received)
                        }
                        guard let (upstreamHead, bodyStart) = parsed else { return }
                        answered.take()?.resume(returning: upstreamHead)
                        try await Self.pumpBody(
                            framing: HTTPUpstream.framing(of: upstreamHead, requestMethod: method), first: Array(received[bodyStart...]),
                            stream: &stream, into: handoff)
                    }
                    handoff.finish()
                } catch {
                    answered.take()?.resume(throwing: error is HTTPUpstream.Malformed ? RequestError.unavailable("\(error)") : error)
                    handoff.finish(error)
                }
            }
        }
        var headers = HTTPFields()
        for (name, value) in upstream.headers where !HTTPUpstream.hopByHop.contains(name.lowercased()) {
            if let field = HTTPField.Name(name) { headers.append(HTTPField(name: field, value: value)) }
        }
        return Response(status: .init(code: upstream.status), headers: headers, body: ResponseBody(asyncSequence: handoff))
    }

    static func pumpBody(framing: HTTPUpstream.Framing, first: [UInt8], stream: inout AgentStream, into handoff: Handoff) async throws {
        switch framing {
        case .none:
            return
        case .length(var remaining):
            var chunk = ByteBuffer(bytes: first.prefix(remaining))
            while true {
                if chunk.readableBytes > 0 {
                    let take = min(remaining, chunk.readableBytes)
                    try await handoff.put(chunk.readSlice(length: take)!)
                    remaining -= take
                }
                guard remaining > 0, let next = try await stream.nextBytes() else { return }
                chunk = next
            }
        case .chunked:
            var decoder = HTTPUpstream.ChunkDecoder()
            var bytes = first
            while true {
                let out = try decoder.feed(bytes)
                if !out.isEmpty { try await handoff.put(ByteBuffer(bytes: out)) }
                guard !decoder.isDone, let next = try await stream.nextBytes() else { return }
                bytes = Array(next.readableBytesView)
            }
        case .untilClose:
            if !first.isEmpty { try await handoff.put(ByteBuffer(bytes: first)) }
            while let next = try await stream.nextBytes() { try await handoff.put(next) }
        }
    }

    /// The request head the app gets: the path below the prefix, the browser's headers without hop-by-hop ones and
    /// without Studio's cookies, and where it really came from.
    func requestHead(_ request: Request, target: Target, context: StudioRequestContext) -> String {
        var lines = ["\(request.method.rawValue) \(target.rest) HTTP/1.1"]
        // HTTP/1.1 needs Host, and apps refuse a request without one; HTTPTypes keeps it as the authority, not a header.
        lines.append("Host: \(request.head.authority ?? "localhost")")
        for field in request.headers {
            let name = field.name.canonicalName
            if HTTPUpstream.hopByHop.contains(name) || name.hasPrefix("x-forwarded-") || name == "cookie" { continue }
            lines.append("\(field.name.rawName): \(field.value)")
        }
        if let cookies = Self.appsOwnCookies(request.headers) { lines.append("Cookie: \(cookies)") }
        if let length = request.headers[.contentLength] {
            lines.append("Content-Length: \(length)")
        } else if request.headers[.transferEncoding] != nil {
            lines.append("Transfer-Encoding: chunked")
        }
        lines.append("Connection: close")
        lines.append("X-Forwarded-For: \(settings.remoteAddress(of: request, context: context))")
        lines.append("X-Forwarded-Proto: \(settings.scheme(of: request, context: context))")
        if let host = request.head.authority { lines.append("X-Forwarded-Host: \(host)") }
        lines.append("X-Forwarded-Prefix: \(String(target.prefix.dropLast()))")
        return lines.joined(separator: "\r\n") + "\r\n\r\n"
    }

    /// The browser's cookies without Studio's two, for the app; nil when none are left.
    static func appsOwnCookies(_ headers: HTTPFields) -> String? {
        let cookies = headers[values: .cookie].flatMap { $0.split(separator: ";") }
            .map { $0.trimmingCharacters(in: " ") }
            .filter { !$0.hasPrefix(WebSettings.sessionCookie + "=") && !$0.hasPrefix(appCookie + "=") }
        return cookies.isEmpty ? nil : cookies.joined(separator: "; ")
    }

    static func cookie(_ name: String, in headers: HTTPFields) -> String? {
        headers[values: .cookie].flatMap { $0.split(separator: ";") }.lazy
            .map { $0.trimmingCharacters(in: " ") }
            .first { $0.hasPrefix(name + "=") }
            .map { String($0.dropFirst(name.count + 1)) }
            .flatMap { $0.isEmpty ? nil : $0 }
    }

    /// A small HTML page for a person who followed a link.
    static func page(_ status: HTTPResponse.Status, _ title: String, _ text: String) -> Response {
        func escape(_ s: String) -> String {
            s.reduce(into: "") { out, c in
                switch c {
                case "&": out += "&amp;"
                case "<": out += "&lt;"
                case ">": out += "&gt;"
                case "\"": out += "&quot;"
                default: out.append(c)
                }
            }
        }
        let html = """
            <!doctype html><html lang="en"><meta charset="utf-8"><meta name="viewport" content="width=device-width">
            <title>\(escape(title))</title><body style="font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem">
            <h1 style="font-size:1.3rem">\(escape(title))</h1><p>\(escape(text))</p></body></html>
            """
        return Response(
            status: status,
            headers: [.contentType: "text/html; charset=utf-8", .contentSecurityPolicy: "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: html)))
    }
}

/// A continuation resumed at most once, from whichever side gets there first.
final class Once<Value: Sendable>: Sendable {
    private let continuation = Mutex<CheckedContinuation<Value, any Error>?>(nil)
    func set(_ value: CheckedContinuation<Value, any Error>) { continuation.withLock { $0 = value } }
    func take() -> CheckedContinuation<Value, any Error>? { continuation.withLock { $0.take() } }
}
