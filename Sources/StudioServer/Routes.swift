#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import HTTPTypes
import Hummingbird
import WSCore
import Logging
import NIOCore
import StudioClient
import StudioCore
import StudioNet

/// The HTTP API and web UI served by studiod.
public enum Routes {
    /// Builds the router. `uptime` answers how long this process has been up, in seconds; `configError` is the
    /// problem with the configuration files, if any, reported by `/healthz`.
    public static func router(
        settings: WebSettings = WebSettings(), uptime: @escaping @Sendable () -> Double, configError: String? = nil,
        now: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }
    ) -> Router<StudioRequestContext> {
        let router = Router(context: StudioRequestContext.self)
        router.add(middleware: WebMiddleware(settings: settings))
        router.get("/healthz") { _, _ -> Health in
            Health(status: configError == nil ? "ok" : "degraded", uptimeSeconds: uptime(), configError: configError)
        }
        let api = router.group("/api/v1")
        APIRoutes(settings: settings, now: now).register(on: api)
        // A terminal asked for without a WebSocket upgrade, or whose upgrade was refused: say why, as HTTP.
        api.get("workspaces/:name/terminals/:terminal") { request, context -> Response in
            guard try await TerminalSocket(settings: settings).runningTarget(
                path: request.uri.path, query: TerminalSocket.query(request.uri.query), headers: request.headers, remote: context.remoteAddress) != nil
            else { throw HTTPError(.notFound) }
            throw RequestError.badRequest("this is a terminal: connect to it with a WebSocket")
        }
        // The dashboard.
        router.get("/") { _, _ in try await StaticFiles.file(at: "\(settings.webRoot)/index.html") }
        router.get("/vendor/xterm/**") { request, _ in try await StaticFiles.serve(request, root: settings.xtermRoot, prefix: "/vendor/xterm/") }
        router.get("/*") { request, _ in try await StaticFiles.serve(request, root: settings.webRoot, prefix: "/") }
        return router
    }

    /// The WebSocket side: which upgrades to accept, what to run on them, and why one is refused.
    static func upgrade(settings: WebSettings) -> StudioHTTPChannel.Upgrade {
        { head, channel, logger in
            // On the apps origin: an app's own WebSocket, for the holder of that app's cookie.
            if channel.localAddress?.port == settings.appsPort, !StudioRequestContext.isUnix(channel.localAddress) {
                guard let (target, token) = AppWebSocket.target(head: head) else {
                    return .refuse(WebMiddleware.refusal(.unauthorized("open the app from the Studio dashboard first")))
                }
                let remote = WebSettings.remoteAddress(peer: channel.remoteAddress, forwardedFor: head.headerFields[.xForwardedFor])
                var headers = HTTPFields()
                if let offered = head.headerFields[.secWebSocketProtocol]?.split(separator: ",").first {
                    headers[.secWebSocketProtocol] = offered.trimmingCharacters(in: " ")
                }
                return .upgrade(headers, { inbound, outbound, context in
                    await AppWebSocket.relay(
                        target: target, token: token, head: head, settings: settings, remote: remote, inbound: inbound, outbound: outbound,
                        logger: context.logger)
                })
            }
            do {
                // Terminals only on the dashboard's listener, never on the unix socket.
                guard !StudioRequestContext.isUnix(channel.localAddress), let path = head.path else {
                    throw RequestError.notFound("studiod's local socket answers only /healthz")
                }
                let (route, query) = TerminalSocket.split(path)
                guard let target = try TerminalSocket(settings: settings).target(path: route, query: query, headers: head.headerFields, remote: channel.remoteAddress) else {
                    throw RequestError.notFound("nothing at \(route.prefix(200)) takes a WebSocket; terminals are /api/v1/workspaces/NAME/terminals/TERMINAL")
                }
                // The Origin must be the dashboard's (WebSockets are outside CORS), the login live, the workspace the
                // user's and running.
                let expected = settings.dashboardOrigin(authority: head.authority, headers: head.headerFields, peer: channel.remoteAddress)
                guard let sent = head.headerFields[.origin], let expected, WebOrigin(sent) == expected else {
                    throw RequestError.forbidden("a terminal opens only from Studio's own dashboard (the Origin is not its own)")
                }
                let info = try await TerminalSocket.requireRunning(target)
                // Opening a terminal is a person's act on the workspace (what they then type, the agent records).
                settings.activity.record(.api, owner: info.definition.identity.owner, workspace: target.name)
                return .upgrade([:], { inbound, outbound, context in
                    await TerminalSocket.relay(target, inbound: inbound, outbound: outbound, logger: context.logger)
                })
            } catch let error as RequestError {
                return .refuse(WebMiddleware.refusal(error))
            } catch {
                return .refuse(WebMiddleware.refusal(.internalError("\(error)")))
            }
        }
    }
}

extension TerminalSocket {
    /// Splits a request target into its path and its query's parameters.
    static func split(_ target: String) -> (String, [String: String]) {
        guard let mark = target.firstIndex(of: "?") else { return (target, [:]) }
        return (String(target[..<mark]), query(String(target[target.index(after: mark)...])))
    }

    static func query(_ text: String?) -> [String: String] {
        var result: [String: String] = [:]
        for pair in (text ?? "").split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { result[String(parts[0])] = String(parts[1]) }
        }
        return result
    }
}

extension Health: ResponseEncodable {}
