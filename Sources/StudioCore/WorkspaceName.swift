/// A workspace's name: `[a-z0-9][a-z0-9-]{0,62}`, unique per owner.
public struct WorkspaceName: Sendable, Hashable, Codable, CustomStringConvertible, Comparable {
    public let rawValue: String

    /// Validates `text`; the error says what is allowed.
    public init(_ text: String) throws(WorkspaceError) {
        guard let first = text.utf8.first, text.utf8.count <= 63,
              Self.isLowerAlnum(first),
              text.utf8.allSatisfy({ Self.isLowerAlnum($0) || $0 == UInt8(ascii: "-") })
        else {
            throw .invalidName(text)
        }
        rawValue = text
    }

    static func isLowerAlnum(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    public var description: String { rawValue }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        self = try WorkspaceName(text)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// What identifies a workspace on the host, and the names derived from it.
public struct WorkspaceIdentity: Sendable, Hashable, Codable {
    /// The owner's user name.
    public var owner: String
    /// The owner's uid.
    public var uid: UInt32
    public var name: WorkspaceName

    public init(owner: String, uid: UInt32, name: WorkspaceName) {
        self.owner = owner
        self.uid = uid
        self.name = name
    }

    /// A short id that is safe in paths and unit names: `<uid>-<name>`.
    public var id: String { "\(uid)-\(name)" }

    /// `studio-ws-<owner>-<name>.service`, the owner escaped as systemd does (`-` → `\x2d`), so that the dashes
    /// in unit names keep meaning hierarchy.
    public var unitName: String { "\(Self.unitPrefix)\(UnitNames.escape(owner))-\(name).service" }
    /// What every workspace unit's name starts with.
    public static let unitPrefix = "studio-ws-"

    /// `studio-<owner>.slice`, a child of `studio.slice`.
    public var sliceName: String { "studio-\(UnitNames.escape(owner)).slice" }

    /// `/run/studio/ws/<id>`: the agent's socket and spec; owner and studiod only.
    public var runtimeDirectory: String { "\(Paths.workspaceRuntimeRoot)/\(id)" }

    /// The agent's socket.
    public var agentSocket: String { "\(runtimeDirectory)/agent.sock" }

    /// `owner/name`, as people write it.
    public var displayName: String { "\(owner)/\(name)" }
}

/// systemd's unit-name escaping (`systemd-escape`).
public enum UnitNames {
    /// Escapes `text` for use inside a unit name: `[A-Za-z0-9:_.]` stay, `-` and `/` and others become `\xNN`,
    /// a leading `.` too.
    public static func escape(_ text: String) -> String {
        var out = ""
        for (index, byte) in text.utf8.enumerated() {
            let isPlain = (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: ":") || byte == UInt8(ascii: "_")
                || (byte == UInt8(ascii: ".") && index > 0)
            if isPlain {
                out.append(Character(Unicode.Scalar(byte)))
            } else {
                out += "\\x" + String(byte, radix: 16).leftPadded(to: 2)
            }
        }
        return out
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
