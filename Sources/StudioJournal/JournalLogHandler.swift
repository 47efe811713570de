import Logging
#if canImport(Glibc)
import Glibc
#endif

/// A swift-log handler that writes structured journal entries (journald's native protocol, as `sd_journal_sendv`
/// does) when the process runs under systemd, and plain lines on stderr otherwise.
public struct JournalLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public var logLevel: Logger.Level = .info
    let label: String
    let identifier: String
    let toJournal: Bool

    /// - Parameters:
    ///   - identifier: `SYSLOG_IDENTIFIER`, normally the program name (`studiod`).
    ///   - toJournal: write to the journal rather than stderr; by default, when stderr is connected to it.
    public init(label: String, identifier: String, toJournal: Bool = JournalLogHandler.stderrIsJournal) {
        self.label = label
        self.identifier = identifier
        self.toJournal = toJournal
    }

    /// Makes every `Logger` in the process use this handler. Call once, first thing in `main`.
    public static func bootstrap(identifier: String, level: Logger.Level = .info) {
        let journal = stderrIsJournal || askedForJournal
        LoggingSystem.bootstrap { label in
            var handler = JournalLogHandler(label: label, identifier: identifier, toJournal: journal)
            handler.logLevel = level
            return handler
        }
    }

    /// True when whoever started us says the journal's socket is there though stderr is not the journal:
    /// `STUDIO_JOURNAL=native` (a container workspace's agent, whose stderr is nspawn's pipe and whose
    /// `/run/systemd/journal/socket` is the host's).
    public static var askedForJournal: Bool {
        getenv("STUDIO_JOURNAL").map { String(cString: $0) } == "native" && access(socketPath, W_OK) == 0
    }

    /// True when systemd connected stderr to the journal: `$JOURNAL_STREAM` names stderr's device and inode.
    public static var stderrIsJournal: Bool {
        guard let value = getenv("JOURNAL_STREAM").map({ String(cString: $0) }) else { return false }
        var info = stat()
        guard fstat(STDERR_FILENO, &info) == 0 else { return false }
        return value == "\(info.st_dev):\(info.st_ino)"
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let own = event.metadata { merged.merge(own) { $1 } }
        if toJournal {
            let fields = JournalFields.make(
                identifier: identifier, label: label, level: event.level, message: event.message.description,
                metadata: merged, error: event.error, file: event.file, function: event.function, line: event.line)
            Self.send(fields)
        } else {
            var line = "\(identifier) \(event.level): \(event.message)"
            for (key, value) in merged.sorted(by: { $0.key < $1.key }) { line += " \(key)=\(value)" }
            if let error = event.error { line += " error=\(error)" }
            line += "\n"
            let bytes = Array(line.utf8)
            _ = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
        }
    }

    /// journald's socket for structured entries.
    public static let socketPath = "/run/systemd/journal/socket"
    /// The largest entry sent; longer values are cut (journald's own datagram limit is larger, but a log line that
    /// long is a bug).
    static let maxEntryBytes = 96 * 1024

    /// Sends one entry in journald's native protocol: `NAME=value` lines, or, for a value with a newline,
    /// `NAME`, a newline, its length as 64-bit little endian, the value and a newline.
    public static func send(_ fields: [(String, String)], to path: String = socketPath) {
        UnixDatagram.send([encode(fields)], to: path)
    }

    static func encode(_ fields: [(String, String)]) -> [UInt8] {
        var entry: [UInt8] = []
        for (name, value) in fields {
            var bytes = Array(value.utf8)
            let room = maxEntryBytes - entry.count - name.utf8.count - 10
            if room <= 0 { break }
            if bytes.count > room { bytes = Array(bytes.prefix(room)) }
            entry += Array(name.utf8)
            if bytes.contains(UInt8(ascii: "\n")) {
                entry.append(UInt8(ascii: "\n"))
                withUnsafeBytes(of: UInt64(bytes.count).littleEndian) { entry += $0 }
                entry += bytes
            } else {
                entry.append(UInt8(ascii: "="))
                entry += bytes
            }
            entry.append(UInt8(ascii: "\n"))
        }
        return entry
    }
}
