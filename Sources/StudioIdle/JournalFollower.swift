import StudioSystemd

/// Follows the journal from now on for the entries studio-idled cares about.
///
/// An entry counts only by the fields journald itself adds (`_SYSTEMD_UNIT`), which a local user writing
/// with `logger` cannot forge.
public struct JournalFollower {
    /// The units whose entries are followed.
    public static let units = ["studiod.service", "studio-sandbox.service"]

    let reader: JournalReader

    public init() throws(SystemError) {
        reader = try JournalReader()
        for unit in Self.units { try reader.addMatch("_SYSTEMD_UNIT", unit) }
        try reader.seekTail()
    }

    /// Calls `body` for every new matching entry until `shouldStop` says so; checks it at least once a second.
    public func follow(shouldStop: () -> Bool, _ body: (JournalEntry) -> Void) throws(SystemError) {
        while !shouldStop() {
            while let entry = try reader.next() { body(entry) }
            try reader.wait(timeoutSeconds: 1)
        }
    }
}
