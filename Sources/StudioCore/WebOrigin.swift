/// A web origin: scheme, host and port (RFC 6454), as browsers send it in `Origin`.
public struct WebOrigin: Sendable, Equatable, CustomStringConvertible {
    public var scheme: String
    public var host: String
    public var port: Int

    public init(scheme: String, host: String, port: Int? = nil) {
        self.scheme = scheme.lowercased()
        self.host = host.lowercased()
        self.port = port ?? (self.scheme == "https" ? 443 : 80)
    }

    /// Parses `scheme://host[:port]` (http or https; an IPv6 host in brackets); nil for anything else.
    public init?(_ text: String) {
        let lower = text.lowercased()
        let scheme: String
        if lower.hasPrefix("http://") { scheme = "http" } else if lower.hasPrefix("https://") { scheme = "https" } else { return nil }
        let rest = lower.dropFirst(scheme.count + 3)
        guard let authority = WebOrigin.hostAndPort(String(rest)) else { return nil }
        self.init(scheme: scheme, host: authority.host, port: authority.port)
    }

    /// The origin a request was addressed to: its `Host` header under `scheme`.
    public init?(scheme: String, hostHeader: String) {
        guard let authority = WebOrigin.hostAndPort(hostHeader.lowercased()) else { return nil }
        self.init(scheme: scheme, host: authority.host, port: authority.port)
    }

    /// Splits `host[:port]`; nil when it is not one (empty, a path, a bad port, characters hosts do not have).
    static func hostAndPort(_ text: String) -> (host: String, port: Int?)? {
        var host = Substring(text)
        var port: Int?
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return nil }
            let after = host[host.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let value = Int(after.dropFirst()), (1...65535).contains(value) else { return nil }
                port = value
            }
            host = host[...close]
        } else if let colon = host.lastIndex(of: ":") {
            guard let value = Int(host[host.index(after: colon)...]), (1...65535).contains(value) else { return nil }
            port = value
            host = host[..<colon]
        }
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789.-_[]:")
        guard !host.isEmpty, host.count <= 253, host.allSatisfy({ allowed.contains($0) }) else { return nil }
        return (String(host), port)
    }

    var isDefaultPort: Bool { (scheme == "https" && port == 443) || (scheme == "http" && port == 80) }

    /// `scheme://host[:port]`, the port left out when it is the scheme's default.
    public var description: String { isDefaultPort ? "\(scheme)://\(host)" : "\(scheme)://\(host):\(port)" }

    /// The same host under another scheme and port.
    public func with(scheme: String? = nil, port: Int) -> WebOrigin { WebOrigin(scheme: scheme ?? self.scheme, host: host, port: port) }
}
