/// A D-Bus value of the few types systemd's unit properties use, for building `a(sv)` property lists and for
/// reading properties back. Pure data: no libsystemd here, so property lists can be built and checked in tests.
public enum BusValue: Sendable, Equatable {
    /// `s` (also read from `o` and `g`).
    case string(String)
    /// `b`.
    case bool(Bool)
    /// `u`.
    case uint32(UInt32)
    /// `t`.
    case uint64(UInt64)
    /// `i`.
    case int32(Int32)
    /// `x`.
    case int64(Int64)
    /// `d`.
    case double(Double)
    /// `as`.
    case strings([String])
    /// `a(sasb)`: what `ExecStart=` and friends are made of.
    case commands([BusExecCommand])
    /// `h`: a file descriptor, duplicated into the message (the caller keeps and closes its own).
    case fileDescriptor(Int32)

    /// The D-Bus signature of the value, as written into a variant.
    public var signature: String {
        switch self {
        case .string: "s"
        case .bool: "b"
        case .uint32: "u"
        case .uint64: "t"
        case .int32: "i"
        case .int64: "x"
        case .double: "d"
        case .strings: "as"
        case .commands: "a(sasb)"
        case .fileDescriptor: "h"
        }
    }

    /// The value when it is a `t`, with systemd's "infinity / not known" (`UINT64_MAX`) turned into nil.
    public var finiteUInt64: UInt64? {
        guard case .uint64(let value) = self, value != .max else { return nil }
        return value
    }
}

/// One command line of an `Exec*=` property: `(sasb)` = path, argv (argv[0] included), ignore failure (`-` prefix).
public struct BusExecCommand: Sendable, Equatable {
    public var path: String
    public var argv: [String]
    public var ignoreFailure: Bool

    public init(path: String, argv: [String], ignoreFailure: Bool = false) {
        self.path = path
        self.argv = argv
        self.ignoreFailure = ignoreFailure
    }
}

/// A named property, one element of the `a(sv)` that `StartTransientUnit` and `SetUnitProperties` take.
public struct BusProperty: Sendable, Equatable {
    public var name: String
    public var value: BusValue

    public init(_ name: String, _ value: BusValue) {
        self.name = name
        self.value = value
    }
}
