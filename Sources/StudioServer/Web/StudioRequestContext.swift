import Hummingbird
import NIOCore

/// A request's context: Hummingbird's, and where the request came from (for the origin check, the audit trail and
/// telling the local socket from the network).
public struct StudioRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The peer; a TCP address, or a unix socket's.
    public let remoteAddress: SocketAddress?
    /// The listener it came in on.
    public let localAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
        localAddress = source.channel.localAddress
    }

    /// Bodies the API reads are small JSON objects.
    public var maxUploadSize: Int { 64 * 1024 }

    /// Came in on studiod's unix socket (studioctl), not over the network.
    public var viaUnixSocket: Bool { Self.isUnix(localAddress) }

    /// The peer is this machine over loopback: a TLS proxy such as `tailscale serve` or caddy, whose forwarded
    /// headers are believed.
    public var fromLoopback: Bool { Self.isLoopback(remoteAddress) }

    static func isUnix(_ address: SocketAddress?) -> Bool {
        if case .unixDomainSocket = address { return true }
        return false
    }

    static func isLoopback(_ address: SocketAddress?) -> Bool {
        switch address {
        case .v4: return address?.ipAddress?.hasPrefix("127.") ?? false
        case .v6: return address?.ipAddress == "::1" || (address?.ipAddress?.hasPrefix("::ffff:127.") ?? false)
        default: return false
        }
    }
}
