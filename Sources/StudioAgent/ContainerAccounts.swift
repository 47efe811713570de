import StudioCore
#if canImport(Glibc)
import Glibc
#endif

/// The owner's account inside a container workspace: `/etc/passwd` and `/etc/group` of the image (the writes land in
/// the workspace's own layer) must know the owner's name, uid and gid, or `whoami`, `ls -l` and every program that
/// looks the user up fail. The agent, root inside, makes sure of it before it is ready.
enum ContainerAccounts {
    /// Why the account files could not be written.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// The owner's shell inside: `preferred` (the host login shell) if the image has it, else `/bin/bash`, else
    /// `/bin/sh`.
    static func shell(preferred: String, isExecutable: (String) -> Bool = { access($0, X_OK) == 0 }) -> String {
        if preferred.hasPrefix("/"), isExecutable(preferred) { return preferred }
        return isExecutable("/bin/bash") ? "/bin/bash" : "/bin/sh"
    }

    /// Root's shell inside: `/bin/bash` if the image has it, else `/bin/sh`.
    static func rootShell(isExecutable: (String) -> Bool = { access($0, X_OK) == 0 }) -> String {
        isExecutable("/bin/bash") ? "/bin/bash" : "/bin/sh"
    }

    /// `passwd` with the account's line `name:x:uid:gid::home:shell`: it replaces every line with the same name or
    /// the same uid (the first in place, the others dropped), or is appended. Other lines stay byte for byte. Empty
    /// text (no file in the image) gets a root line first.
    static func passwd(_ text: String, account: ContainerAccount, shell: String) -> String {
        var base = text
        if base.isEmpty { base = "root:x:0:0:root:/root:/bin/sh\n" }
        let line = "\(account.name):x:\(account.uid):\(account.gid)::\(account.home):\(shell)"
        return replacing(in: base, line: line) { fields in
            fields.count > 2 && (fields[0] == account.name || fields[2] == "\(account.uid)")
        }
    }

    /// `group` with `group:x:gid:`, by the same rules (same name or same gid). Empty text gets a root line first.
    static func group(_ text: String, account: ContainerAccount) -> String {
        var base = text
        if base.isEmpty { base = "root:x:0:\n" }
        let line = "\(account.group):x:\(account.gid):"
        return replacing(in: base, line: line) { fields in
            fields.count > 2 && (fields[0] == account.group || fields[2] == "\(account.gid)")
        }
    }

    private static func replacing(in text: String, line: String, matches: ([Substring]) -> Bool) -> String {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let endsWithNewline = text.hasSuffix("\n")
        if endsWithNewline { lines.removeLast() }
        var placed = false
        var result: [String] = []
        for existing in lines {
            let fields = existing.split(separator: ":", omittingEmptySubsequences: false)
            if matches(fields) {
                if !placed { result.append(line) }
                placed = true
            } else {
                result.append(existing)
            }
        }
        if !placed { result.append(line) }
        return result.joined(separator: "\n") + "\n"
    }

    /// Updates `<etc>/passwd` and `<etc>/group` for `account` (each written only if it changes).
    static func install(_ account: ContainerAccount, shell: String, etc: String = "/etc") throws(Failure) {
        let passwdPath = "\(etc)/passwd", groupPath = "\(etc)/group"
        let passwdText = try read(passwdPath)
        let updatedPasswd = passwd(passwdText, account: account, shell: shell)
        if updatedPasswd != passwdText { try write(updatedPasswd, to: passwdPath) }
        let groupText = try read(groupPath)
        let updatedGroup = group(groupText, account: account)
        if updatedGroup != groupText { try write(updatedGroup, to: groupPath) }
    }

    /// A file's text; empty if it does not exist.
    static func read(_ path: String) throws(Failure) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        if fd < 0 {
            if errno == ENOENT { return "" }
            throw Failure(description: "cannot read \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count == 0 { break }
            if count < 0 {
                if errno == EINTR { continue }
                throw Failure(description: "cannot read \(path): \(String(cString: strerror(errno)))")
            }
            bytes += buffer[..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Replaces `path` atomically: a temporary file beside it (mode 0644), fsync, rename.
    static func write(_ text: String, to path: String) throws(Failure) {
        let temporary = "\(path).studio-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else { throw Failure(description: "cannot write \(temporary): \(String(cString: strerror(errno)))") }
        var failed: Int32 = 0
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let count = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                failed = errno
                break
            }
            offset += count
        }
        if failed == 0, fchmod(fd, 0o644) != 0 || fsync(fd) != 0 { failed = errno }
        if close(fd) != 0, failed == 0 { failed = errno }
        if failed == 0, rename(temporary, path) != 0 { failed = errno }
        if failed != 0 {
            unlink(temporary)
            throw Failure(description: "cannot write \(path): \(String(cString: strerror(failed)))")
        }
    }
}
