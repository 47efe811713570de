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
import StudioNet
import Logging

/// What studiod's web side is configured with.
public struct WebSettings: Sendable {
    /// The dashboard's origin when pinned by `[Web] PublicURL=`.
    public var publicOrigin: WebOrigin?
    /// The dashboard's files (index.html, app.js, style.css, openapi.json).
    public var webRoot: String
    /// Debian's libjs-xterm, served under /vendor/xterm/.
    public var xtermRoot: String
    /// The broker's socket.
    public var brokerSocket: String
    /// The apps origin when pinned by `[Web] AppsURL=`.
    public var appsOrigin: WebOrigin?
    /// The local port of the apps listener (studiod.socket's second TCP address).
    public var appsPort: Int
    /// Writes studiod's activity records (source `api`) with studiod's own journal logger, which is what makes
    /// studio-idled believe them. One for the process: it throttles per owner, workspace and source, and every copy
    /// of these settings shares it.
    public let activity: ActivityRecorder

    public init(
        publicOrigin: WebOrigin? = nil, appsOrigin: WebOrigin? = nil, appsPort: Int = 7081, webRoot: String = Paths.webRoot,
        xtermRoot: String = Paths.xtermRoot, brokerSocket: String = Paths.brokerSocket, activity: ActivityRecorder? = nil
    ) {
        self.activity = activity ?? ActivityRecorder(logger: Logger(label: "studiod"), now: { Date().timeIntervalSince1970 })
        self.publicOrigin = publicOrigin
        self.appsOrigin = appsOrigin
        self.appsPort = appsPort
        self.webRoot = webRoot
        self.xtermRoot = xtermRoot
        self.brokerSocket = brokerSocket
    }

    /// The session cookie's name.
    static let sessionCookie = "studio_session"

    /// The origin a request was addressed to, as the browser sees it: the configured public one, or its `Host`
    /// with the scheme a loopback proxy says it received (`X-Forwarded-Proto`), else http.
    func dashboardOrigin(of request: Request, context: StudioRequestContext) -> WebOrigin? {
        dashboardOrigin(authority: request.head.authority, headers: request.headers, peer: context.remoteAddress)
    }

    /// The same from a request head and its peer (a WebSocket upgrade, before there is a request context).
    func dashboardOrigin(authority: String?, headers: HTTPFields, peer: SocketAddress?) -> WebOrigin? {
        if let publicOrigin { return publicOrigin }
        guard let host = authority else { return nil }
        return WebOrigin(scheme: scheme(headers: headers, peer: peer), hostHeader: host)
    }

    /// The apps origin as the browser reaches it: the configured one, or the dashboard's host on port 7081 (plain
    /// HTTP on loopback) or 8443 (behind a TLS proxy, as `tailscale serve --https 8443 7081` gives).
    func appsOrigin(of request: Request, context: StudioRequestContext) -> WebOrigin? {
        if let appsOrigin { return appsOrigin }
        guard let dashboard = dashboardOrigin(of: request, context: context) else { return nil }
        return dashboard.with(port: dashboard.scheme == "https" ? 8443 : appsPort)
    }

    /// Whether a request came in on the apps listener.
    func onAppsOrigin(_ context: StudioRequestContext) -> Bool {
        !context.viaUnixSocket && context.localAddress?.port == appsPort
    }

    /// `https` when the request reached a loopback TLS proxy over HTTPS, else `http`.
    func scheme(of request: Request, context: StudioRequestContext) -> String {
        scheme(headers: request.headers, peer: context.remoteAddress)
    }

    func scheme(headers: HTTPFields, peer: SocketAddress?) -> String {
        if StudioRequestContext.isLoopback(peer), let forwarded = headers[.xForwardedProto]?.split(separator: ",").first {
            let value = forwarded.trimmingCharacters(in: " ").lowercased()
            if value == "https" || value == "http" { return value }
        }
        if let publicOrigin { return publicOrigin.scheme }
        return "http"
    }

    /// The person's address: the peer's, or the one a loopback proxy forwarded (the last `X-Forwarded-For` entry,
    /// which that proxy itself added).
    func remoteAddress(of request: Request, context: StudioRequestContext) -> String {
        Self.remoteAddress(peer: context.remoteAddress, forwardedFor: request.headers[.xForwardedFor])
    }

    static func remoteAddress(peer: SocketAddress?, forwardedFor: String?) -> String {
        if StudioRequestContext.isLoopback(peer), let forwarded = forwardedFor?.split(separator: ",").last {
            let value = forwarded.trimmingCharacters(in: " ")
            if !value.isEmpty, value.count <= 64 { return value }
        }
        return peer?.ipAddress ?? "local"
    }

    /// The session token from the request's cookies, if any.
    static func sessionToken(_ request: Request) -> String? {
        request.cookies[sessionCookie]?.value
    }

    /// The broker, acting with this request's login.
    func broker(_ request: Request, context: StudioRequestContext, token: String? = nil) -> BrokerConnection {
        BrokerConnection(socketPath: brokerSocket, grant: token ?? Self.sessionToken(request), remote: remoteAddress(of: request, context: context))
    }
}

extension HTTPField.Name {
    static let xForwardedProto = Self("X-Forwarded-Proto")!
    static let xForwardedFor = Self("X-Forwarded-For")!
    static let retryAfter = Self("Retry-After")!
    static let referrerPolicy = Self("Referrer-Policy")!
    static let xFrameOptions = Self("X-Frame-Options")!
}

extension StringProtocol {
    func trimmingCharacters(in set: Character) -> String {
        var slice = Substring(self)
        while slice.first == set { slice.removeFirst() }
        while slice.last == set { slice.removeLast() }
        return String(slice)
    }
}
