/// What a user or group name may look like where it enters Studio (a request's `owner`, `[Access] Group=`):
/// at most 32 characters of letters, digits, `_`, `-` and `.` (and a trailing `$` of machine accounts), not
/// starting with `-`. Anything else — newlines, slashes, 64 KiB — is no name on this machine and is refused before
/// it reaches a lookup, a log or an audit entry.
public enum UserName {
    public static let maxLength = 32

    public static func isValid(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty, bytes.count <= maxLength, bytes[0] != UInt8(ascii: "-") else { return false }
        for (index, byte) in bytes.enumerated() {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "."):
                continue
            case UInt8(ascii: "$") where index == bytes.count - 1:
                continue
            default:
                return false
            }
        }
        return true
    }
}
