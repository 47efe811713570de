#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import StudioCore

/// Which accounts may own workspaces: regular login accounts only. A workspace runs programs as its owner, so a
/// system account (www-data, nobody, a DynamicUser), an account that cannot log in (nologin shell), a locked
/// (`usermod -L`) or expired (`usermod -e`) one must not get a way to run them through Studio. With `[Access]
/// Group=` set, only members of that group qualify.
///
/// The rules are read from the machine's own files, as `useradd` and `login` read them: `UID_MIN`/`UID_MAX` from
/// /etc/login.defs, login shells from /etc/shells, lock and expiry from /etc/shadow.
struct AccountPolicy: Sendable {
    /// Reads a small system file; nil when it does not exist.
    var readFile: @Sendable (String) -> String?
    /// Today, in days since the epoch (shadow's unit for expiry).
    var today: @Sendable () -> Int

    init(
        readFile: @escaping @Sendable (String) -> String? = { path in
            FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
        },
        today: @escaping @Sendable () -> Int = { Int(time(nil) / 86_400) }
    ) {
        self.readFile = readFile
        self.today = today
    }

    /// Throws `forbidden` with the reason when `account` may not own workspaces (or a broken `[Access] Group=`).
    func check(_ account: UserAccount, group: String?) throws(BrokerError) {
        let (uidMin, uidMax) = uidRange()
        guard account.uid >= uidMin, account.uid <= uidMax else {
            throw .forbidden("\(account.name) (uid \(account.uid)) is a system account; only regular login accounts (uid \(uidMin)–\(uidMax), /etc/login.defs) get workspaces")
        }
        let shell = account.shell.isEmpty ? "/bin/sh" : account.shell
        guard loginShells().contains(shell) else {
            throw .forbidden("\(account.name)'s login shell \(shell) is not in /etc/shells, so the account cannot log in and gets no workspace; an administrator can give it a login shell with chsh")
        }
        if let entry = shadowEntry(account.name) {
            let password = entry.count > 1 ? entry[1] : ""
            // "!" in front of a hash is `usermod -L`/`passwd -l`; a bare "!" or "*" is an account without a password
            // (keys only), which may still log in.
            if password.hasPrefix("!"), password.count > 1, password != "!!", !password.hasPrefix("!*") {
                throw .forbidden("the account \(account.name) is locked; an administrator can unlock it with usermod -U \(account.name)")
            }
            if entry.count > 7, let expires = Int(entry[7]), expires >= 0, expires <= today() {
                throw .forbidden("the account \(account.name) has expired; an administrator can extend it with usermod -e")
            }
        }
        if let group {
            guard let gid = UserAccount.groupID(named: group) else {
                throw BrokerError(code: .config, message: "[Access] Group=\(group) names a group that does not exist; an administrator must create it (groupadd \(group)) or fix studio.conf")
            }
            guard account.groupIDs.contains(gid) else {
                throw .forbidden("only members of the group \(group) get workspaces ([Access] Group= in studio.conf); ask an administrator to add \(account.name) (usermod -aG \(group) \(account.name))")
            }
        }
    }

    func uidRange() -> (UInt32, UInt32) {
        var low: UInt32 = 1000, high: UInt32 = 60000
        for line in (readFile("/etc/login.defs") ?? "").split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 2, let value = UInt32(fields[1]) else { continue }
            if fields[0] == "UID_MIN" { low = value }
            if fields[0] == "UID_MAX" { high = value }
        }
        return (low, high)
    }

    func loginShells() -> Set<String> {
        let lines = (readFile("/etc/shells") ?? "/bin/sh\n/bin/bash\n").split(separator: "\n")
        return Set(lines.map { $0.trimmingWhitespace() }.filter { $0.hasPrefix("/") && !$0.hasSuffix("/nologin") && !$0.hasSuffix("/false") })
    }

    func shadowEntry(_ name: String) -> [String]? {
        for line in (readFile("/etc/shadow") ?? "").split(separator: "\n") {
            let fields = line.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            if fields.first == name { return fields }
        }
        return nil
    }
}
