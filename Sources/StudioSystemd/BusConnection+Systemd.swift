/// systemd's manager API (`org.freedesktop.systemd1.Manager` on `/org/freedesktop/systemd1`), one method each,
/// as blocking calls on one connection. See org.freedesktop.systemd1(5).
extension BusConnection {
    static let systemd = "org.freedesktop.systemd1"
    static let managerPath = "/org/freedesktop/systemd1"
    static let managerInterface = "org.freedesktop.systemd1.Manager"
    static let unitInterface = "org.freedesktop.systemd1.Unit"
    static let propertiesInterface = "org.freedesktop.DBus.Properties"

    /// Well-known D-Bus error names we act on.
    enum ErrorName {
        static let noSuchUnit = "org.freedesktop.systemd1.NoSuchUnit"
        static let unitExists = "org.freedesktop.systemd1.UnitExists"
        static let unknownObject = "org.freedesktop.DBus.Error.UnknownObject"
        static let unknownInterface = "org.freedesktop.DBus.Error.UnknownInterface"
    }

    private func manager(_ member: String) throws(BusError) -> BusMessage {
        try methodCall(destination: Self.systemd, path: Self.managerPath, interface: Self.managerInterface, member: member)
    }

    /// `Subscribe()`: systemd sends its unit and job signals while this connection lives.
    func subscribe(timeout: UInt64) throws(BusError) {
        _ = try call(try manager("Subscribe"), timeoutMicroseconds: timeout)
    }

    /// Routes one of the manager's signals (`JobRemoved`, `UnitRemoved`, …) to us.
    func matchManagerSignal(_ member: String, timeout: UInt64) throws(BusError) {
        try addMatch(
            "type='signal',sender='\(Self.systemd)',path='\(Self.managerPath)',interface='\(Self.managerInterface)',"
                + "member='\(member)'",
            timeoutMicroseconds: timeout)
    }

    /// Routes `PropertiesChanged` signals of one object (a unit) to us.
    func matchPropertiesChanged(path: String, timeout: UInt64) throws(BusError) {
        try addMatch(
            "type='signal',sender='\(Self.systemd)',path='\(path)',interface='\(Self.propertiesInterface)',"
                + "member='PropertiesChanged'",
            timeoutMicroseconds: timeout)
    }

    /// `StartTransientUnit(name, mode, properties, aux=[])` → the job's object path.
    func startTransientUnit(
        _ name: String, mode: String, properties: [BusProperty], timeout: UInt64
    ) throws(BusError) -> String {
        let message = try manager("StartTransientUnit")
        try message.append(name)
        try message.append(mode)
        try message.append(properties)
        try message.open("a", "(sa(sv))")
        try message.close()
        return try call(message, timeoutMicroseconds: timeout).readString("o")
    }

    /// `StopUnit(name, mode)` → the job's object path.
    func stopUnit(_ name: String, mode: String, timeout: UInt64) throws(BusError) -> String {
        let message = try manager("StopUnit")
        try message.append(name)
        try message.append(mode)
        return try call(message, timeoutMicroseconds: timeout).readString("o")
    }

    /// `GetUnit(name)` → the unit's object path; throws NoSuchUnit when it is not loaded.
    func getUnit(_ name: String, timeout: UInt64) throws(BusError) -> String {
        let message = try manager("GetUnit")
        try message.append(name)
        return try call(message, timeoutMicroseconds: timeout).readString("o")
    }

    /// `ResetFailedUnit(name)`.
    func resetFailedUnit(_ name: String, timeout: UInt64) throws(BusError) {
        let message = try manager("ResetFailedUnit")
        try message.append(name)
        _ = try call(message, timeoutMicroseconds: timeout)
    }

    /// `SetUnitProperties(name, runtime, properties)`.
    func setUnitProperties(
        _ name: String, runtime: Bool, properties: [BusProperty], timeout: UInt64
    ) throws(BusError) {
        let message = try manager("SetUnitProperties")
        try message.append(name)
        try message.append(runtime)
        try message.append(properties)
        _ = try call(message, timeoutMicroseconds: timeout)
    }

    /// `ListUnitsByPatterns(states, patterns)` → (name, ActiveState) of each loaded unit that matches.
    func listUnitsByPatterns(
        states: [String], patterns: [String], timeout: UInt64
    ) throws(BusError) -> [(name: String, activeState: String)] {
        let message = try manager("ListUnitsByPatterns")
        try message.append(states)
        try message.append(patterns)
        let reply = try call(message, timeoutMicroseconds: timeout)
        var units: [(name: String, activeState: String)] = []
        // a(ssssssouso): name, description, load state, active state, sub state, following, path, job id,
        // job type, job path.
        try reply.enter("a", "(ssssssouso)")
        while try reply.enter("r", "ssssssouso") {
            let name = try reply.readString()
            try reply.skip("ss")
            let active = try reply.readString()
            try reply.skip("ssouso")
            try reply.exit()
            units.append((name, active))
        }
        try reply.exit()
        return units
    }

    /// `org.freedesktop.DBus.Properties.GetAll(interface)` on an object.
    func getAllProperties(path: String, interface: String, timeout: UInt64) throws(BusError) -> [String: BusValue] {
        let message = try methodCall(
            destination: Self.systemd, path: path, interface: Self.propertiesInterface, member: "GetAll")
        try message.append(interface)
        return try call(message, timeoutMicroseconds: timeout).readPropertyDictionary()
    }

    /// `org.freedesktop.DBus.Properties.Get(interface, name)` on an object.
    func getProperty(path: String, interface: String, name: String, timeout: UInt64) throws(BusError) -> BusValue? {
        let message = try methodCall(
            destination: Self.systemd, path: path, interface: Self.propertiesInterface, member: "Get")
        try message.append(interface)
        try message.append(name)
        return try call(message, timeoutMicroseconds: timeout).readVariant()
    }
}
