import StudioCore
import Synchronization

/// A UnitManager double that keeps units in memory, like systemd would, and can be told to fail starts.
final class FakeUnitManager: UnitManager, Sendable {
    struct State {
        var units: [String: UnitStatus] = [:]
        var started: [TransientServiceSpec] = []
        var liveLimits: [String: ResourceLimits] = [:]
        var failStarts = false
    }

    let state = Mutex(State())

    var started: [TransientServiceSpec] { state.withLock { $0.started } }
    var units: [String: UnitStatus] { state.withLock { $0.units } }
    func failStarts(_ fail: Bool) { state.withLock { $0.failStarts = fail } }
    func liveLimits(_ unit: String) -> ResourceLimits? { state.withLock { $0.liveLimits[unit] } }

    func startTransientService(_ spec: TransientServiceSpec) async throws(UnitManagerError) {
        try state.withLock { (state: inout State) throws(UnitManagerError) in
            if state.units[spec.name]?.isRunning == true {
                throw UnitManagerError(name: "org.freedesktop.systemd1.UnitExists", message: "Unit \(spec.name) already exists.")
            }
            if state.failStarts {
                throw UnitManagerError(message: "\(spec.name) failed to start: exit-code")
            }
            state.started.append(spec)
            state.units[spec.name] = UnitStatus(name: spec.name, activeState: "active", subState: "running", mainPID: 4242, limits: spec.limits)
        }
    }

    func stopUnit(_ name: String) async throws(UnitManagerError) {
        state.withLock { _ = $0.units.removeValue(forKey: name) }
    }

    func status(of name: String) async throws(UnitManagerError) -> UnitStatus? {
        state.withLock { $0.units[name] }
    }

    func setLimits(_ limits: ResourceLimits, on name: String) async throws(UnitManagerError) {
        state.withLock {
            $0.liveLimits[name] = limits
            $0.units[name]?.limits = limits
        }
    }

    func resetFailed(_ name: String) async throws(UnitManagerError) {
        state.withLock { if $0.units[name]?.activeState == "failed" { $0.units[name] = nil } }
    }
}
