#if canImport(Glibc)
import Glibc
#endif

/// A Linux account from the user database (`getpwnam_r`), with its groups.
public struct UserAccount: Sendable, Equatable, Codable {
    public var name: String
    public var uid: UInt32
    public var gid: UInt32
    public var home: String
    public var shell: String

    public init(name: String, uid: UInt32, gid: UInt32, home: String, shell: String) {
        self.name = name
        self.uid = uid
        self.gid = gid
        self.home = home
        self.shell = shell
    }

    /// The account called `name`, or nil.
    public static func named(_ name: String) -> UserAccount? {
        lookup { getpwnam_r(name, &$0, $1, $2, &$3) }
    }

    /// The account with `uid`, or nil.
    public static func withUID(_ uid: UInt32) -> UserAccount? {
        lookup { getpwuid_r(uid, &$0, $1, $2, &$3) }
    }

    /// The group ids the account is in (primary first), for permission checks made on its behalf.
    public var groupIDs: [UInt32] {
        var count: Int32 = 64
        var groups = [gid_t](repeating: 0, count: Int(count))
        if getgrouplist(name, gid, &groups, &count) < 0 {
            groups = [gid_t](repeating: 0, count: Int(count))
            _ = getgrouplist(name, gid, &groups, &count)
        }
        return Array(groups.prefix(Int(max(count, 0))))
    }

    /// The gid of the group called `name`, or nil.
    public static func groupID(named name: String) -> UInt32? {
        var group = Glibc.group()
        var result: UnsafeMutablePointer<Glibc.group>?
        var buffer = [CChar](repeating: 0, count: 16384)
        guard getgrnam_r(name, &group, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return group.gr_gid
    }

    /// The name of group `gid`, or nil.
    public static func groupName(of gid: UInt32) -> String? {
        var group = Glibc.group()
        var result: UnsafeMutablePointer<Glibc.group>?
        var buffer = [CChar](repeating: 0, count: 16384)
        guard getgrgid_r(gid, &group, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return String(cString: group.gr_name)
    }

    private static func lookup(
        _ call: (inout passwd, UnsafeMutablePointer<CChar>, Int, inout UnsafeMutablePointer<passwd>?) -> Int32
    ) -> UserAccount? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16384)
        let status = buffer.withUnsafeMutableBufferPointer { call(&entry, $0.baseAddress!, $0.count, &result) }
        guard status == 0, result != nil else { return nil }
        return UserAccount(
            name: String(cString: entry.pw_name), uid: entry.pw_uid, gid: entry.pw_gid,
            home: String(cString: entry.pw_dir), shell: String(cString: entry.pw_shell))
    }
}
