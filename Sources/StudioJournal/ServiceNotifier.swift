#if canImport(Glibc)
import Glibc
#endif

/// Tells the service manager about our state (the `sd_notify` protocol: a datagram to `$NOTIFY_SOCKET`). Does
/// nothing when not started by systemd.
public enum ServiceNotifier {
    /// The service finished starting: for `Type=notify` units, systemd now considers it active.
    public static func ready(status: String? = nil) {
        send(["READY=1"] + (status.map { ["STATUS=\($0)"] } ?? []))
    }

    /// A one-line state shown by `systemctl status`.
    public static func status(_ text: String) {
        send(["STATUS=\(text)"])
    }

    /// The service is shutting down on its own.
    public static func stopping(status: String? = nil) {
        send(["STOPPING=1"] + (status.map { ["STATUS=\($0)"] } ?? []))
    }

    /// Whether a notification socket was given to us at all.
    public static var isSupervised: Bool {
        getenv("NOTIFY_SOCKET") != nil
    }

    static func send(_ assignments: [String]) {
        // Newlines inside a value would start a new assignment; keep each value on one line.
        let text = assignments.map { $0.replacing("\n", with: " ") }.joined(separator: "\n")
        guard let path = getenv("NOTIFY_SOCKET").map({ String(cString: $0) }), !path.isEmpty else { return }
        UnixDatagram.send([Array(text.utf8)], to: path)
    }
}
