import StudioJournal

/// Where studiod accepts connections: sockets systemd handed over, or addresses bound for development.
public enum Listener: Sendable, Equatable, CustomStringConvertible {
    /// A socket inherited through socket activation.
    case inherited(ListenSocket)
    /// A TCP address studiod binds itself (`studiod --listen`).
    case tcp(host: String, port: Int)
    /// A unix socket path studiod binds itself (`studiod --listen-unix`).
    case unix(path: String)

    public var description: String {
        switch self {
        case .inherited(let socket): "fd \(socket.fd) (\(socket.name), \(socket.family))"
        case .tcp(let host, let port): "\(host):\(port)"
        case .unix(let path): path
        }
    }
}
