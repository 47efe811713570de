import CSystemd
#if canImport(Glibc)
import Glibc
#endif

/// One journal entry: its fields (binary-safe values shown as text), time and cursor.
public struct JournalEntry: Sendable, Equatable {
    public var fields: [String: String]
    /// Microseconds since the epoch, as journald stamped it.
    public var realtimeMicroseconds: UInt64
    /// Opaque position, for resuming after this entry.
    public var cursor: String

    public init(fields: [String: String], realtimeMicroseconds: UInt64, cursor: String) {
        self.fields = fields
        self.realtimeMicroseconds = realtimeMicroseconds
        self.cursor = cursor
    }

    public subscript(field: String) -> String? { fields[field] }
}

/// Reads the system journal: filter with matches, seek, iterate, and follow new entries.
///
/// Not thread-safe (neither is sd-journal): use one reader from one thread or task at a time.
public final class JournalReader: @unchecked Sendable {
    private var journal: OpaquePointer?

    /// Opens the local system journal (and, when permitted, users' journals).
    public init() throws(SystemError) {
        var handle: OpaquePointer?
        try SystemError.check("sd_journal_open", sd_journal_open(&handle, Int32(SD_JOURNAL_LOCAL_ONLY)))
        journal = handle
    }

    deinit { sd_journal_close(journal) }

    /// Adds a `FIELD=value` match. Matches on different fields are ANDed, on the same field ORed, until
    /// `addDisjunction()` starts an alternative group.
    public func addMatch(_ field: String, _ value: String) throws(SystemError) {
        let text = "\(field)=\(value)"
        try SystemError.check("sd_journal_add_match", text.withCString { sd_journal_add_match(journal, $0, 0) })
    }

    /// Starts a new group of matches, ORed with the previous ones.
    public func addDisjunction() throws(SystemError) {
        try SystemError.check("sd_journal_add_disjunction", sd_journal_add_disjunction(journal))
    }

    /// Removes all matches.
    public func flushMatches() { sd_journal_flush_matches(journal) }

    /// Positions before the oldest entry.
    public func seekHead() throws(SystemError) { try SystemError.check("sd_journal_seek_head", sd_journal_seek_head(journal)) }

    /// Positions after the newest entry: `next()` then returns only entries written from now on.
    public func seekTail() throws(SystemError) {
        try SystemError.check("sd_journal_seek_tail", sd_journal_seek_tail(journal))
        // seek_tail leaves the position *at* the end; stepping back once and forward again makes the next
        // `next()` return the first new entry rather than the last old one.
        _ = sd_journal_previous(journal)
    }

    /// Positions after the newest entry, for reading backwards: `previous()` then returns the newest one.
    public func seekTailForReadingBack() throws(SystemError) {
        try SystemError.check("sd_journal_seek_tail", sd_journal_seek_tail(journal))
    }

    /// Positions at the first entry at or after this time.
    public func seek(realtimeMicroseconds: UInt64) throws(SystemError) {
        try SystemError.check("sd_journal_seek_realtime_usec", sd_journal_seek_realtime_usec(journal, realtimeMicroseconds))
    }

    /// Positions just after the entry with this cursor.
    public func seek(cursor: String) throws(SystemError) {
        try SystemError.check("sd_journal_seek_cursor", cursor.withCString { sd_journal_seek_cursor(journal, $0) })
        _ = sd_journal_next(journal)
    }

    /// The next matching entry, or nil at the end of what is there now.
    public func next() throws(SystemError) -> JournalEntry? {
        let moved = try SystemError.check("sd_journal_next", sd_journal_next(journal))
        return moved == 0 ? nil : try current()
    }

    /// The previous matching entry, or nil at the start.
    public func previous() throws(SystemError) -> JournalEntry? {
        let moved = try SystemError.check("sd_journal_previous", sd_journal_previous(journal))
        return moved == 0 ? nil : try current()
    }

    /// Waits until the journal changes or the timeout passes (nil: wait indefinitely).
    /// Returns true when something was appended or journal files were added.
    @discardableResult
    public func wait(timeoutSeconds: Double?) throws(SystemError) -> Bool {
        let timeout = timeoutSeconds.map { UInt64(max(0, $0) * 1_000_000) } ?? UInt64.max
        let result = try SystemError.check("sd_journal_wait", sd_journal_wait(journal, timeout))
        return Int(result) == SD_JOURNAL_APPEND || Int(result) == SD_JOURNAL_INVALIDATE
    }

    /// The entry at the current position.
    private func current() throws(SystemError) -> JournalEntry {
        var fields: [String: String] = [:]
        var data: UnsafeRawPointer?
        var length = 0
        sd_journal_restart_data(journal)
        while sd_journal_enumerate_data(journal, &data, &length) > 0 {
            guard let data else { continue }
            let bytes = UnsafeRawBufferPointer(start: data, count: length)
            guard let equals = bytes.firstIndex(of: UInt8(ascii: "=")) else { continue }
            let name = String(decoding: bytes[..<equals], as: UTF8.self)
            fields[name] = String(decoding: bytes[(equals + 1)...], as: UTF8.self)
        }
        var realtime: UInt64 = 0
        try SystemError.check("sd_journal_get_realtime_usec", sd_journal_get_realtime_usec(journal, &realtime))
        var cursorPointer: UnsafeMutablePointer<CChar>?
        try SystemError.check("sd_journal_get_cursor", sd_journal_get_cursor(journal, &cursorPointer))
        defer { free(cursorPointer) }
        return JournalEntry(fields: fields, realtimeMicroseconds: realtime, cursor: String(cString: cursorPointer!))
    }
}
