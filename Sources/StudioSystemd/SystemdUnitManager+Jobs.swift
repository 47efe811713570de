import StudioCore

/// The blocking bodies of start, stop and status, each on a connection of its own.
///
/// Waiting for a job: before enqueuing it we add match rules for `JobRemoved` (and, for a start, `UnitRemoved`
/// and the unit's `PropertiesChanged`) and call `Subscribe()`; then we read signals until `JobRemoved` names our
/// job. Its result is systemd's verdict ("done" = the start or stop finished). After a failed start, the unit's
/// final `PropertiesChanged` (Result, ExecMainCode/Status) follows right after `JobRemoved`, and then, because of
/// `CollectMode=inactive-or-failed`, the unit is unloaded: so we keep reading signals for a moment rather than ask
/// for properties that may be gone already.
extension SystemdUnitManager {
    /// After a failed start job, how long to wait for the unit's final state.
    static let settleTime: Duration = .seconds(2)

    func start(_ spec: TransientServiceSpec) throws(UnitManagerError) {
        guard let program = spec.argv.first, program.hasPrefix("/") else {
            let given = spec.argv.first.map { "'\($0)'" } ?? "an empty argv"
            throw UnitManagerError(
                name: ErrorName.invalidSpec,
                message: "cannot start \(spec.name): argv[0] must be an absolute path, got \(given)")
        }
        let bus = try connect()
        let timeout = callMicroseconds
        let unitPath = try mapped("starting \(spec.name)") { () throws(BusError) -> String in
            let path = try BusConnection.unitPath(for: spec.name)
            // Listen before the job exists, so none of its signals can pass unseen.
            try bus.matchManagerSignal("JobRemoved", timeout: timeout)
            try bus.matchManagerSignal("UnitRemoved", timeout: timeout)
            try bus.matchPropertiesChanged(path: path, timeout: timeout)
            try bus.subscribe(timeout: timeout)
            return path
        }
        let deadline = ContinuousClock.now + startTimeout + margin
        let job = try enqueueStart(spec.name, transientProperties(for: spec), on: bus)

        var observed = ObservedUnitState()
        let jobResult = try mapped("waiting for \(spec.name) to start") { () throws(BusError) in
            try waitForJob(job, unit: spec.name, unitPath: unitPath, on: bus, until: deadline, observed: &observed)
        }
        if jobResult == "done" { return }

        guard let jobResult else {
            // No verdict from systemd in time (it should have given one at TimeoutStartUSec): cancel the start.
            _ = try? bus.stopUnit(spec.name, mode: "replace", timeout: timeout)
            try? bus.resetFailedUnit(spec.name, timeout: timeout)
            throw UnitManagerError(
                name: ErrorName.timedOut,
                message: "\(spec.name) did not become active within \(startTimeout + margin) and was stopped; "
                    + "see journalctl -u \(spec.name)")
        }
        // Why it failed: from the signals that follow the job's end, else (if it is still loaded) by asking.
        try? waitUntilSettled(
            unit: spec.name, unitPath: unitPath, on: bus, until: min(deadline, .now + Self.settleTime),
            observed: &observed)
        if observed.result == nil, let interface = Self.typeInterface(of: spec.name),
            let properties = try? bus.getAllProperties(path: unitPath, interface: interface, timeout: timeout)
        {
            observed.merge(properties)
        }
        // Nothing may be left behind: a failed unit is collected on its own, this covers a unit that is not yet.
        try? bus.resetFailedUnit(spec.name, timeout: timeout)
        throw UnitManagerError(
            name: ErrorName.startFailed,
            message: Self.startFailureMessage(unit: spec.name, jobResult: jobResult, observed: observed))
    }

    /// `StartTransientUnit`, mode "fail". A unit of that name that is loaded but failed or inactive (a leftover)
    /// is reset and the start tried once more; a live one is `UnitExists`.
    private func enqueueStart(_ name: String, _ properties: [BusProperty], on bus: BusConnection) throws(UnitManagerError) -> String {
        let timeout = callMicroseconds
        do throws(BusError) {
            return try bus.startTransientUnit(name, mode: "fail", properties: properties, timeout: timeout)
        } catch let error where error.name == ErrorName.unitExists {
            let state = try? activeState(of: name, on: bus)
            if let state, state != "failed", state != "inactive" {
                throw UnitManagerError(
                    name: error.name, message: "cannot start \(name): it is already loaded and \(state); stop it first")
            }
            try? bus.resetFailedUnit(name, timeout: timeout)
            return try mapped("starting \(name)") { () throws(BusError) in
                try bus.startTransientUnit(name, mode: "fail", properties: properties, timeout: timeout)
            }
        } catch {
            throw unitError(error, doing: "starting \(name)")
        }
    }

    func stop(_ name: String) throws(UnitManagerError) {
        let bus = try connect()
        let timeout = callMicroseconds
        try mapped("stopping \(name)") { () throws(BusError) in
            try bus.matchManagerSignal("JobRemoved", timeout: timeout)
            try bus.subscribe(timeout: timeout)
        }
        let job: String
        do throws(BusError) {
            job = try bus.stopUnit(name, mode: "replace", timeout: timeout)
        } catch let error where error.name == ErrorName.noSuchUnit {
            return
        } catch {
            throw unitError(error, doing: "stopping \(name)")
        }
        // SIGTERM, TimeoutStopUSec, SIGKILL, and at most as long again (for units we started).
        let limit = stopTimeout * 2 + margin
        var observed = ObservedUnitState()
        let result = try mapped("waiting for \(name) to stop") { () throws(BusError) in
            try waitForJob(job, unit: name, unitPath: nil, on: bus, until: .now + limit, observed: &observed)
        }
        switch result {
        case "done"?:
            return
        case nil:
            throw UnitManagerError(name: ErrorName.timedOut, message: "\(name) is still stopping after \(limit)")
        case "canceled"?:
            throw UnitManagerError(
                name: ErrorName.stopFailed, message: "stopping \(name) was canceled: another job (a start?) replaced it")
        case let other?:
            throw UnitManagerError(name: ErrorName.stopFailed, message: "stopping \(name) ended with job result '\(other)'")
        }
    }

    func readStatus(_ name: String) throws(UnitManagerError) -> UnitStatus? {
        let bus = try connect()
        let timeout = callMicroseconds
        return try mapped("reading the status of \(name)") { () throws(BusError) -> UnitStatus? in
            let path: String
            do throws(BusError) {
                path = try bus.getUnit(name, timeout: timeout)
            } catch let error where error.name == ErrorName.noSuchUnit {
                return nil
            }
            let unit: [String: BusValue]
            do throws(BusError) {
                unit = try bus.getAllProperties(path: path, interface: BusConnection.unitInterface, timeout: timeout)
            } catch let error where error.name == BusConnection.ErrorName.unknownObject {
                return nil  // unloaded between the two calls
            }
            var typeSpecific: [String: BusValue] = [:]
            if let interface = Self.typeInterface(of: name) {
                do throws(BusError) {
                    typeSpecific = try bus.getAllProperties(path: path, interface: interface, timeout: timeout)
                } catch let error
                    where error.name == BusConnection.ErrorName.unknownObject
                    || error.name == BusConnection.ErrorName.unknownInterface
                {}
            }
            var status = Self.unitStatus(name: name, unit: unit, typeSpecific: typeSpecific)
            if case .string(let group)? = typeSpecific["ControlGroup"], !group.isEmpty {
                status.controlGroup = group
                status.oomKills = CgroupCounters.oomKills(controlGroup: group)
            }
            return status
        }
    }

    // MARK: Waiting

    /// Reads signals until `JobRemoved` for `job` and returns its result ("done", "failed", "timeout",
    /// "canceled", "dependency", …), or nil when `deadline` passes first.
    func waitForJob(
        _ job: String, unit: String, unitPath: String?, on bus: BusConnection, until deadline: ContinuousClock.Instant,
        observed: inout ObservedUnitState
    ) throws(BusError) -> String? {
        while let message = try bus.nextMessage(until: deadline) {
            if message.isSignal(BusConnection.managerInterface, "JobRemoved") {
                _ = try message.readFixed("u", as: UInt32.self)
                let path = try message.readString("o")
                _ = try message.readString()
                let result = try message.readString()
                if path == job { return result }
            } else {
                _ = try observe(message, unit: unit, unitPath: unitPath, into: &observed)
            }
        }
        return nil
    }

    /// Reads signals until the unit is failed or inactive, or unloaded, or `deadline` passes.
    func waitUntilSettled(
        unit: String, unitPath: String, on bus: BusConnection, until deadline: ContinuousClock.Instant,
        observed: inout ObservedUnitState
    ) throws(BusError) {
        while !observed.isSettled, let message = try bus.nextMessage(until: deadline) {
            if try observe(message, unit: unit, unitPath: unitPath, into: &observed) { return }
        }
    }

    /// Takes in a `PropertiesChanged` of the unit; true when the message is the unit's `UnitRemoved`.
    private func observe(
        _ message: BusMessage, unit: String, unitPath: String?, into observed: inout ObservedUnitState
    ) throws(BusError) -> Bool {
        if let unitPath, message.isSignal(BusConnection.propertiesInterface, "PropertiesChanged"), message.path == unitPath {
            _ = try message.readString()
            observed.merge(try message.readPropertyDictionary())
        } else if message.isSignal(BusConnection.managerInterface, "UnitRemoved") {
            return try message.readString() == unit
        }
        return false
    }

    private func activeState(of name: String, on bus: BusConnection) throws(BusError) -> String? {
        let path = try bus.getUnit(name, timeout: callMicroseconds)
        let value = try bus.getProperty(
            path: path, interface: BusConnection.unitInterface, name: "ActiveState", timeout: callMicroseconds)
        if case .string(let state)? = value { return state }
        return nil
    }

    /// "X failed to start: result 'exit-code', the main process exited with status 1; see journalctl -u X".
    static func startFailureMessage(unit: String, jobResult: String, observed: ObservedUnitState) -> String {
        var reasons: [String] = []
        switch jobResult {
        case "failed": break  // the Result below says more
        case "timeout": reasons.append("it did not finish starting within TimeoutStartUSec")
        case "dependency": reasons.append("a unit it needs (its slice?) failed")
        case "canceled": reasons.append("the start was canceled by another job")
        default: reasons.append("job result '\(jobResult)'")
        }
        if let result = observed.result, result != "success" { reasons.append("result '\(result)'") }
        if let outcome = observed.mainProcessOutcome { reasons.append("the main process \(outcome)") }
        if reasons.isEmpty { reasons.append("job result '\(jobResult)'") }
        return "\(unit) failed to start: \(reasons.joined(separator: ", ")); see journalctl -u \(unit)"
    }
}
