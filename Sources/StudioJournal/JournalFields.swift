import Logging

/// Turns a log event into journal fields: MESSAGE, PRIORITY, SYSLOG_IDENTIFIER, CODE_*, and each metadata
/// key as an upper-case field (`workspace` → `WORKSPACE`, `studio.user` → `STUDIO_USER`).
public enum JournalFields {
    /// Fields the handler sets itself; metadata with these names is kept under `META_<NAME>` instead.
    static let reserved: Set<String> = [
        "MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER", "CODE_FILE", "CODE_LINE", "CODE_FUNC", "ERRNO", "LOGGER",
    ]

    /// The journal priority (syslog level) of a swift-log level.
    public static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    /// A valid journal field name for a metadata key: A–Z, 0–9 and `_`, not starting with `_` or a digit.
    public static func fieldName(_ key: String) -> String {
        var name = String(key.uppercased().map { ($0.isASCII && ($0.isLetter || $0.isNumber)) ? $0 : "_" })
        while name.hasPrefix("_") { name.removeFirst() }
        if name.isEmpty || name.first!.isNumber { name = "F" + name }
        if reserved.contains(name) { name = "META_" + name }
        return name
    }

    /// All fields of one entry, in a stable order.
    public static func make(
        identifier: String,
        label: String,
        level: Logger.Level,
        message: String,
        metadata: Logger.Metadata,
        error: (any Error)?,
        file: String,
        function: String,
        line: UInt
    ) -> [(String, String)] {
        var fields: [(String, String)] = [
            ("MESSAGE", message),
            ("PRIORITY", String(priority(level))),
            ("SYSLOG_IDENTIFIER", identifier),
            ("LOGGER", label),
            ("CODE_FILE", file),
            ("CODE_LINE", String(line)),
            ("CODE_FUNC", function),
        ]
        if let error { fields.append(("ERROR", String(describing: error))) }
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) {
            fields.append((fieldName(key), render(value)))
        }
        return fields
    }

    /// Metadata values as plain text: strings as they are, arrays and dictionaries as swift-log prints them.
    static func render(_ value: Logger.MetadataValue) -> String {
        switch value {
        case .string(let text): text
        case .stringConvertible(let convertible): convertible.description
        default: value.description
        }
    }
}
