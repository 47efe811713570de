import CSystemd
import StudioCore

#if canImport(Glibc)
import Glibc
#endif

/// `UnitManager` over systemd's D-Bus API (`org.freedesktop.systemd1`, sd-bus): starts workspace services as
/// transient units with cgroup limits, stops them, reads their state and live usage, changes limits at run time.
///
/// Each operation opens its own system-bus connection on a thread of its own and closes it when done, so the
/// value has no shared state (sd-bus connections are not thread-safe) and never blocks Swift's cooperative
/// threads. Every D-Bus call has `callTimeout`; waiting for a start or stop job has an overall limit derived from
/// `startTimeout` / `stopTimeout`. An operation that has begun runs to its end (or its time limit) even if the
/// calling task is cancelled. See docs/systemd-dbus.md.
public struct SystemdUnitManager: UnitManager {
    /// `TimeoutStartUSec=` of the services we start: systemd fails the start after this long (for `Type=notify`,
    /// without READY=1). We wait that long plus `margin`, so systemd's own verdict normally arrives first.
    public var startTimeout: Duration
    /// `TimeoutStopUSec=` of the services we start: SIGTERM, then SIGKILL after this long.
    public var stopTimeout: Duration
    /// The limit for each single D-Bus call.
    public var callTimeout: Duration
    /// Added to systemd's own timeouts when we wait for a job.
    public var margin: Duration = .seconds(5)

    /// Error names of failures that are ours rather than systemd's (its own come through as they are, e.g.
    /// `org.freedesktop.systemd1.UnitExists`, `org.freedesktop.DBus.Error.AccessDenied`).
    public enum ErrorName {
        /// The start job did not succeed; the message carries systemd's `Result` and how the main process ended.
        public static let startFailed = "studio.systemd.StartFailed"
        /// The stop job did not succeed.
        public static let stopFailed = "studio.systemd.StopFailed"
        /// systemd did not finish the job within our time limit.
        public static let timedOut = "studio.systemd.TimedOut"
        /// The spec cannot be sent as it is (e.g. an empty or relative argv[0]).
        public static let invalidSpec = "studio.systemd.InvalidSpec"
        /// systemd's name for "a unit of that name is loaded".
        public static let unitExists = BusConnection.ErrorName.unitExists
        /// systemd's name for "no unit of that name is loaded".
        public static let noSuchUnit = BusConnection.ErrorName.noSuchUnit
    }

    public init(startTimeout: Duration = .seconds(90), stopTimeout: Duration = .seconds(30), callTimeout: Duration = .seconds(25)) {
        self.startTimeout = startTimeout
        self.stopTimeout = stopTimeout
        self.callTimeout = callTimeout
    }

    public func startTransientService(_ spec: TransientServiceSpec) async throws(UnitManagerError) {
        try await Self.onOwnThread { () throws(UnitManagerError) in try self.start(spec) }
    }

    public func stopUnit(_ name: String) async throws(UnitManagerError) {
        try await Self.onOwnThread { () throws(UnitManagerError) in try self.stop(name) }
    }

    public func status(of name: String) async throws(UnitManagerError) -> UnitStatus? {
        try await Self.onOwnThread { () throws(UnitManagerError) in try self.readStatus(name) }
    }

    public func setLimits(_ limits: ResourceLimits, on name: String) async throws(UnitManagerError) {
        try await Self.onOwnThread { () throws(UnitManagerError) in
            let bus = try self.connect()
            try self.mapped("changing the limits of \(name)") { () throws(BusError) in
                try bus.setUnitProperties(
                    name, runtime: true, properties: Self.limitProperties(limits), timeout: self.callMicroseconds)
            }
        }
    }

    public func resetFailed(_ name: String) async throws(UnitManagerError) {
        try await Self.onOwnThread { () throws(UnitManagerError) in
            let bus = try self.connect()
            try self.mapped("resetting \(name)") { () throws(BusError) in
                do throws(BusError) {
                    try bus.resetFailedUnit(name, timeout: self.callMicroseconds)
                } catch let error where error.name == BusConnection.ErrorName.noSuchUnit {}
            }
        }
    }

    /// The loaded units whose names match a glob (`studio-ws-*`), with their `ActiveState`
    /// (`ListUnitsByPatterns`). Units that are not loaded (never started, or stopped and collected) are not listed.
    public func listUnits(matching pattern: String) async throws(UnitManagerError) -> [(name: String, activeState: String)] {
        try await Self.onOwnThread { () throws(UnitManagerError) in
            let bus = try self.connect()
            return try self.mapped("listing units \(pattern)") { () throws(BusError) in
                try bus.listUnitsByPatterns(states: [], patterns: [pattern], timeout: self.callMicroseconds)
            }
        }
    }

    // MARK: Plumbing

    var callMicroseconds: UInt64 { BusConnection.microseconds(callTimeout) }

    func connect() throws(UnitManagerError) -> BusConnection {
        do throws(BusError) {
            return try BusConnection.system(description: "studio-units")
        } catch {
            throw UnitManagerError(
                name: error.name,
                message: "cannot connect to the system bus: \(error.message) (is dbus running, and systemd PID 1?)")
        }
    }

    /// Runs `body`, turning a D-Bus failure into a `UnitManagerError` that says what we were doing.
    func mapped<T>(_ doing: String, _ body: () throws(BusError) -> T) throws(UnitManagerError) -> T {
        do throws(BusError) {
            return try body()
        } catch {
            throw unitError(error, doing: doing)
        }
    }

    /// A `UnitManagerError` with the D-Bus error name and a message a person can act on.
    func unitError(_ error: BusError, doing: String) -> UnitManagerError {
        var message = "\(doing): \(error.message)"
        switch error.name {
        case "org.freedesktop.DBus.Error.AccessDenied", "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired":
            message += " (managing system units needs root)"
        case "org.freedesktop.DBus.Error.NoReply", "org.freedesktop.DBus.Error.Timeout", "System.Error.ETIMEDOUT":
            message += " (systemd did not answer within \(callTimeout))"
        case "org.freedesktop.DBus.Error.ServiceUnknown", "org.freedesktop.DBus.Error.NameHasNoOwner":
            message += " (systemd is not on this system bus)"
        default:
            break
        }
        return UnitManagerError(name: error.name, message: message)
    }

    /// Runs blocking sd-bus work on a thread of its own (not one of Swift's cooperative threads, which must not
    /// block) and resumes the caller with its result.
    static func onOwnThread<T: Sendable>(
        _ body: @escaping @Sendable () throws(UnitManagerError) -> T
    ) async throws(UnitManagerError) -> T {
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<T, UnitManagerError>, Never>) in
            BlockingThread.run { continuation.resume(returning: Result(catching: body)) }
        }
        return try result.get()
    }
}

/// Starts a detached POSIX thread for one piece of blocking work.
private enum BlockingThread {
    final class Work: @unchecked Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }

    static func run(_ body: @escaping @Sendable () -> Void) {
        let work = Unmanaged.passRetained(Work(body)).toOpaque()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        pthread_attr_setstacksize(&attributes, 1024 * 1024)
        var thread = pthread_t()
        let created = pthread_create(&thread, &attributes, { argument in
            Unmanaged<Work>.fromOpaque(argument!).takeRetainedValue().body()
            return nil
        }, work)
        if created != 0 {
            // No thread to be had (resource limits): do the work here rather than not at all.
            Unmanaged<Work>.fromOpaque(work).takeRetainedValue().body()
        }
    }
}
