/// Container images: OS trees in `/var/lib/machines/NAME`, the place systemd's own tools (`machinectl`,
/// `systemd-nspawn -M`, `importctl`) use, so that an admin can make one with debootstrap, mkosi or
/// `machinectl import-tar` as well as with `studioctl image build`.
public struct ImageName: Codable, Sendable, Hashable, CustomStringConvertible, Comparable {
    public let rawValue: String

    /// 1 to 64 of `[A-Za-z0-9._-]`, starting with a letter or digit (systemd's machine-name rules, without `..`).
    public init(_ raw: String) throws(WorkspaceError) {
        let bytes = Array(raw.utf8)
        func allowed(_ byte: UInt8) -> Bool {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }
        guard let first = bytes.first, bytes.count <= 64, allowed(first), first != UInt8(ascii: "."), first != UInt8(ascii: "-"),
              first != UInt8(ascii: "_"), bytes.allSatisfy(allowed), !raw.contains(".."), !raw.hasSuffix(".")
        else {
            throw .invalidImageName(raw)
        }
        rawValue = raw
    }

    public init(from decoder: any Decoder) throws {
        let raw = try decoder.singleValueContainer().decode(String.self)
        try self.init(raw)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    public var description: String { rawValue }
    public static func < (lhs: ImageName, rhs: ImageName) -> Bool { lhs.rawValue < rhs.rawValue }

    /// Where the image's tree is.
    public var path: String { "\(Paths.imageDirectory)/\(rawValue)" }
}

/// One image, as `images` lists it.
public struct ImageInfo: Codable, Sendable, Equatable {
    public var name: String
    /// `/var/lib/machines/NAME`.
    public var path: String
    /// `PRETTY_NAME` of its os-release, or nil when it has none (then it is not an OS tree and cannot be used).
    public var os: String?
    /// Whether a container workspace can start from it, and if not, why (`problem`).
    public var usable: Bool
    public var problem: String?
    /// The templates that name it.
    public var templates: [String]
    /// When the tree was made (its directory's modification time), seconds since the epoch.
    public var modifiedAt: Double?

    public init(name: String, path: String, os: String?, usable: Bool, problem: String? = nil, templates: [String] = [], modifiedAt: Double? = nil) {
        self.name = name
        self.path = path
        self.os = os
        self.usable = usable
        self.problem = problem
        self.templates = templates
        self.modifiedAt = modifiedAt
    }
}

/// The answer to `images`.
public struct ImageList: Codable, Sendable, Equatable {
    public var images: [ImageInfo]

    public init(images: [ImageInfo]) { self.images = images }
}

/// How a container workspace is networked (`[Template] Network=`).
public enum ContainerNetwork: String, Codable, Sendable, CaseIterable {
    /// The host's network (package managers, git, dev servers): the default.
    case host
    /// A network of its own: a veth pair made by systemd-nspawn, with outbound NAT where the host's
    /// systemd-networkd masquerades container links (its shipped `80-container-ve.network`).
    case `private`
    /// Loopback only.
    case none
}

/// The per-workspace user-namespace range of a container workspace: container uid 0..65535 is host uid
/// `base`..`base+65535`. Ranges are `0x70000000 + n * 0x10000`, above systemd's container range
/// (0x00080000–0x6FFFFFFF) and below its foreign-uid range (0x7FFE0000), fixed per workspace (stored), because
/// its writable layer's files are owned by them.
public enum ContainerRange {
    public static let first: UInt32 = 0x7000_0000
    public static let size: UInt32 = 0x1_0000
    /// How many ranges there are.
    public static let count: UInt32 = 4094

    public static func base(slot: UInt32) -> UInt32 { first + slot * size }

    /// The slot of a base, if it is one.
    public static func slot(of base: UInt32) -> UInt32? {
        guard base >= first, (base - first) % size == 0, (base - first) / size < count else { return nil }
        return (base - first) / size
    }
}
