import CSystemd

#if canImport(Glibc)
import Glibc
#endif

/// A failed sd-bus operation: the D-Bus error name (systemd's, the bus daemon's, or sd-bus's `System.Error.E…`
/// for a local errno), its message, and what we were doing.
struct BusError: Error, Sendable, Equatable, CustomStringConvertible {
    /// e.g. `org.freedesktop.systemd1.NoSuchUnit`; empty when the failure was not a D-Bus error.
    var name: String
    var message: String
    /// What failed, e.g. `StartTransientUnit` or `sd_bus_open_system`.
    var operation: String

    var description: String { "\(operation): \(message)" }

    /// From libsystemd's convention: a negative errno.
    init(_ operation: String, errno: Int32) {
        self.operation = operation
        self.name = ""
        self.message = String(cString: strerror(errno))
    }

    init(_ operation: String, name: String, message: String) {
        self.operation = operation
        self.name = name
        self.message = message
    }

    /// Returns `result` when it is not negative, else throws it as an errno.
    @discardableResult
    static func check(_ operation: String, _ result: Int32) throws(BusError) -> Int32 {
        if result < 0 { throw BusError(operation, errno: -result) }
        return result
    }
}

/// The one-character D-Bus type codes that sd-bus takes as `char`.
enum BusType {
    static func code(_ scalar: Unicode.Scalar) -> CChar { CChar(truncatingIfNeeded: scalar.value) }
}

/// An sd-bus message, either being built (method calls) or read (replies, signals).
///
/// Not thread-safe, like sd-bus itself: a message lives inside one operation on one thread.
final class BusMessage {
    let pointer: OpaquePointer

    /// Takes over a reference the caller owns.
    init(taking pointer: OpaquePointer) { self.pointer = pointer }

    deinit { sd_bus_message_unref(pointer) }

    // MARK: Building

    /// Appends an `s`; `asObjectPath` appends an `o` instead.
    func append(_ value: String, asObjectPath: Bool = false) throws(BusError) {
        let type = BusType.code(asObjectPath ? "o" : "s")
        try BusError.check("sd_bus_message_append_basic", value.withCString { sd_bus_message_append_basic(pointer, type, $0) })
    }

    func append(_ value: Bool) throws(BusError) {
        var int: Int32 = value ? 1 : 0
        try BusError.check("sd_bus_message_append_basic", sd_bus_message_append_basic(pointer, BusType.code("b"), &int))
    }

    func append(_ value: UInt32) throws(BusError) {
        var value = value
        try BusError.check("sd_bus_message_append_basic", sd_bus_message_append_basic(pointer, BusType.code("u"), &value))
    }

    func append(_ value: UInt64) throws(BusError) {
        var value = value
        try BusError.check("sd_bus_message_append_basic", sd_bus_message_append_basic(pointer, BusType.code("t"), &value))
    }

    func append(_ value: Int32) throws(BusError) {
        var value = value
        try BusError.check("sd_bus_message_append_basic", sd_bus_message_append_basic(pointer, BusType.code("i"), &value))
    }

    func append(_ value: Int64) throws(BusError) {
        var value = value
        try BusError.check("sd_bus_message_append_basic", sd_bus_message_append_basic(pointer, BusType.code("x"), &value))
    }

    func append(_ value: Double) throws(BusError) {
        var value = value
        try BusError.check("sd_bus_message_append_basic", sd_bus_message_append_basic(pointer, BusType.code("d"), &value))
    }

    /// Appends an `as`.
    func append(_ values: [String]) throws(BusError) {
        try open("a", "s")
        for value in values { try append(value) }
        try close()
    }

    /// Appends the value itself (not wrapped in a variant).
    func append(_ value: BusValue) throws(BusError) {
        switch value {
        case .string(let v): try append(v)
        case .bool(let v): try append(v)
        case .uint32(let v): try append(v)
        case .uint64(let v): try append(v)
        case .int32(let v): try append(v)
        case .int64(let v): try append(v)
        case .double(let v): try append(v)
        case .strings(let v): try append(v)
        case .fileDescriptor(let fd):
            var fd = fd
            try BusError.check("sd_bus_message_append_basic", sd_bus_message_append_basic(pointer, BusType.code("h"), &fd))
        case .commands(let commands):
            try open("a", "(sasb)")
            for command in commands {
                try open("r", "sasb")
                try append(command.path)
                try append(command.argv)
                try append(command.ignoreFailure)
                try close()
            }
            try close()
        }
    }

    /// Appends an `a(sv)` property list.
    func append(_ properties: [BusProperty]) throws(BusError) {
        try open("a", "(sv)")
        for property in properties {
            try open("r", "sv")
            try append(property.name)
            try open("v", property.value.signature)
            try append(property.value)
            try close()
            try close()
        }
        try close()
    }

    /// Opens a container: `a` array, `r` struct, `v` variant, `e` dict entry, with the signature of its contents.
    func open(_ type: Unicode.Scalar, _ contents: String) throws(BusError) {
        try BusError.check(
            "sd_bus_message_open_container",
            contents.withCString { sd_bus_message_open_container(pointer, BusType.code(type), $0) })
    }

    func close() throws(BusError) {
        try BusError.check("sd_bus_message_close_container", sd_bus_message_close_container(pointer))
    }

    // MARK: Reading

    /// Reads an `s` or `o` (whichever comes next; `type` says which to expect).
    func readString(_ type: Unicode.Scalar = "s") throws(BusError) -> String {
        var value: UnsafePointer<CChar>?
        try BusError.check("sd_bus_message_read_basic", sd_bus_message_read_basic(pointer, BusType.code(type), &value))
        return value.map { String(cString: $0) } ?? ""
    }

    func readBool() throws(BusError) -> Bool {
        var value: Int32 = 0
        try BusError.check("sd_bus_message_read_basic", sd_bus_message_read_basic(pointer, BusType.code("b"), &value))
        return value != 0
    }

    /// Reads a fixed-size basic value of the given type code into `T` (which must be that type's size).
    func readFixed<T: FixedWidthInteger>(_ type: Unicode.Scalar, as _: T.Type = T.self) throws(BusError) -> T {
        var value: T = 0
        try BusError.check("sd_bus_message_read_basic", sd_bus_message_read_basic(pointer, BusType.code(type), &value))
        return value
    }

    func readDouble() throws(BusError) -> Double {
        var value: Double = 0
        try BusError.check("sd_bus_message_read_basic", sd_bus_message_read_basic(pointer, BusType.code("d"), &value))
        return value
    }

    /// Reads an `as`.
    func readStrings() throws(BusError) -> [String] {
        var values: [String] = []
        try enter("a", "s")
        while try peek() != nil { values.append(try readString()) }
        try exit()
        return values
    }

    /// Enters a container; false at the end of an enclosing array (nothing left to enter).
    @discardableResult
    func enter(_ type: Unicode.Scalar, _ contents: String) throws(BusError) -> Bool {
        let result = try BusError.check(
            "sd_bus_message_enter_container",
            contents.withCString { sd_bus_message_enter_container(pointer, BusType.code(type), $0) })
        return result > 0
    }

    func exit() throws(BusError) {
        try BusError.check("sd_bus_message_exit_container", sd_bus_message_exit_container(pointer))
    }

    /// The type code and contents signature of what comes next, or nil at the end of the current container.
    func peek() throws(BusError) -> (type: Unicode.Scalar, contents: String?)? {
        var type: CChar = 0
        var contents: UnsafePointer<CChar>?
        let result = try BusError.check("sd_bus_message_peek_type", sd_bus_message_peek_type(pointer, &type, &contents))
        guard result > 0 else { return nil }
        return (Unicode.Scalar(UInt8(bitPattern: type)), contents.map { String(cString: $0) })
    }

    /// Skips the next complete value, whatever its type.
    func skip() throws(BusError) {
        try BusError.check("sd_bus_message_skip", sd_bus_message_skip(pointer, nil))
    }

    /// Skips values of the given signature, e.g. `"ssou"`.
    func skip(_ signature: String) throws(BusError) {
        try BusError.check("sd_bus_message_skip", signature.withCString { sd_bus_message_skip(pointer, $0) })
    }

    /// Reads a `v`. Values of types `BusValue` cannot hold are skipped and come back nil.
    func readVariant() throws(BusError) -> BusValue? {
        guard let next = try peek(), next.type == "v", let signature = next.contents else {
            throw BusError("read variant", name: "", message: "expected a variant")
        }
        let value: BusValue?
        switch signature {
        case "s", "o", "g":
            try enter("v", signature)
            value = .string(try readString(Unicode.Scalar(signature.utf8.first!)))
            try exit()
        case "b":
            try enter("v", signature)
            value = .bool(try readBool())
            try exit()
        case "u":
            try enter("v", signature)
            value = .uint32(try readFixed("u", as: UInt32.self))
            try exit()
        case "t":
            try enter("v", signature)
            value = .uint64(try readFixed("t", as: UInt64.self))
            try exit()
        case "i":
            try enter("v", signature)
            value = .int32(try readFixed("i", as: Int32.self))
            try exit()
        case "x":
            try enter("v", signature)
            value = .int64(try readFixed("x", as: Int64.self))
            try exit()
        case "d":
            try enter("v", signature)
            value = .double(try readDouble())
            try exit()
        case "as":
            try enter("v", signature)
            value = .strings(try readStrings())
            try exit()
        default:
            try skip()
            value = nil
        }
        return value
    }

    /// Reads an `a{sv}` (what `Properties.GetAll` and `PropertiesChanged` carry). Entries whose values
    /// `BusValue` cannot hold are left out.
    func readPropertyDictionary() throws(BusError) -> [String: BusValue] {
        var properties: [String: BusValue] = [:]
        try enter("a", "{sv}")
        while try enter("e", "sv") {
            let name = try readString()
            if let value = try readVariant() { properties[name] = value }
            try exit()
        }
        try exit()
        return properties
    }

    // MARK: Header

    /// Whether this is the signal `interface.member`.
    func isSignal(_ interface: String, _ member: String) -> Bool {
        sd_bus_message_is_signal(pointer, interface, member) > 0
    }

    /// The object path the message is about, or "".
    var path: String {
        sd_bus_message_get_path(pointer).map { String(cString: $0) } ?? ""
    }
}
