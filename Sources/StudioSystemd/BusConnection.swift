import CSystemd

#if canImport(Glibc)
import Glibc
#endif

/// One connection to the system bus, with blocking calls that always have a time limit.
///
/// Not thread-safe, like sd-bus itself: open one per operation and use it from one thread; it is closed when
/// released (and with it go its match rules and any `Subscribe()` made on it).
final class BusConnection {
    let bus: OpaquePointer

    /// Connects to the system bus (`sd_bus_open_system`; `$DBUS_SYSTEM_BUS_ADDRESS` if set).
    static func system(description: String = "studio") throws(BusError) -> BusConnection {
        var bus: OpaquePointer?
        try BusError.check("sd_bus_open_system", sd_bus_open_system_with_description(&bus, description))
        guard let bus else { throw BusError("sd_bus_open_system", errno: ENOMEM) }
        return BusConnection(taking: bus)
    }

    /// Takes over a reference the caller owns.
    init(taking bus: OpaquePointer) { self.bus = bus }

    // No flush: every call we make is synchronous, so nothing is left unsent, and a flush on a connection
    // that never finished authenticating would wait for it.
    deinit { sd_bus_close_unref(bus) }

    /// A new method call to build arguments into.
    func methodCall(
        destination: String, path: String, interface: String, member: String
    ) throws(BusError) -> BusMessage {
        var message: OpaquePointer?
        try BusError.check(
            "sd_bus_message_new_method_call",
            sd_bus_message_new_method_call(bus, &message, destination, path, interface, member))
        guard let message else { throw BusError("sd_bus_message_new_method_call", errno: ENOMEM) }
        return BusMessage(taking: message)
    }

    /// Sends a method call and waits at most `timeoutMicroseconds` for its reply. A D-Bus error reply, or a local
    /// failure (timeout, connection lost), is thrown with its error name and message.
    func call(_ message: BusMessage, timeoutMicroseconds: UInt64) throws(BusError) -> BusMessage {
        let member = sd_bus_message_get_member(message.pointer).map { String(cString: $0) } ?? "call"
        var error = sd_bus_error()
        defer { sd_bus_error_free(&error) }
        var reply: OpaquePointer?
        // 0 would mean sd-bus's default (25 s); ask for at least 1 µs so "no time left" fails rather than waits.
        let result = sd_bus_call(bus, message.pointer, max(timeoutMicroseconds, 1), &error, &reply)
        if result < 0 {
            let name = error.name.map { String(cString: $0) } ?? ""
            let text = error.message.map { String(cString: $0) } ?? String(cString: strerror(-result))
            throw BusError(member, name: name, message: text)
        }
        guard let reply else { throw BusError(member, name: "", message: "no reply") }
        return BusMessage(taking: reply)
    }

    /// Asks the bus daemon to route signals matching `rule` to us (`org.freedesktop.DBus.AddMatch`). Unhandled
    /// incoming messages then come out of `nextMessage(until:)`.
    func addMatch(_ rule: String, timeoutMicroseconds: UInt64) throws(BusError) {
        let message = try methodCall(
            destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus", interface: "org.freedesktop.DBus",
            member: "AddMatch")
        try message.append(rule)
        _ = try call(message, timeoutMicroseconds: timeoutMicroseconds)
    }

    /// The next incoming message nobody else handled (signals we matched on), waiting until `deadline`;
    /// nil when the deadline passed first. Messages that arrived while a `call` waited for its reply are
    /// returned here too, in order.
    func nextMessage(until deadline: ContinuousClock.Instant) throws(BusError) -> BusMessage? {
        while true {
            var message: OpaquePointer?
            let processed = try BusError.check("sd_bus_process", sd_bus_process(bus, &message))
            if let message { return BusMessage(taking: message) }
            if processed > 0 { continue }  // did something else (e.g. a reply nobody waits for); try again
            let left = ContinuousClock.now.duration(to: deadline)
            guard left > .zero else { return nil }
            let waited = sd_bus_wait(bus, Self.microseconds(left))
            if waited < 0 && waited != -EINTR { throw BusError("sd_bus_wait", errno: -waited) }
        }
    }

    /// `/org/freedesktop/systemd1/unit/<escaped name>`, the object path systemd gives a unit.
    static func unitPath(for name: String) throws(BusError) -> String {
        var path: UnsafeMutablePointer<CChar>?
        try BusError.check("sd_bus_path_encode", sd_bus_path_encode("/org/freedesktop/systemd1/unit", name, &path))
        defer { free(path) }
        return path.map { String(cString: $0) } ?? ""
    }

    /// A duration in whole microseconds, rounded up (so a positive duration never becomes 0 = "forever").
    static func microseconds(_ duration: Duration) -> UInt64 {
        guard duration > .zero else { return 0 }
        let (seconds, attoseconds) = duration.components
        let micro = UInt64(seconds) * 1_000_000 + UInt64(attoseconds / 1_000_000_000_000)
        return attoseconds % 1_000_000_000_000 == 0 ? micro : micro + 1
    }
}
