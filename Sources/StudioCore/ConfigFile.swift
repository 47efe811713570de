/// A parsed INI file in systemd's style: `[Section]` headers and `Key=Value` lines, `#` or `;` comments.
///
/// Keys keep the line they came from, so that a bad value can be reported with its place.
public struct ConfigFile: Sendable, Equatable {
    /// One `Key=Value` line.
    public struct Entry: Sendable, Equatable {
        public var section: String
        public var key: String
        public var value: String
        public var path: String
        public var line: Int
    }

    /// A `[Section]` header, kept so that an unknown section is reported even when it has no keys.
    public struct Section: Sendable, Equatable {
        public var name: String
        public var path: String
        public var line: Int
    }

    /// The entries in file order.
    public private(set) var entries: [Entry] = []
    /// The section headers in file order.
    public private(set) var sections: [Section] = []

    public init() {}

    /// Parses `text`, which was read from `path` (used in error messages).
    public init(parsing text: String, path: String) throws(ConfigError) {
        var section: String?
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let lineNumber = index + 1
            let line = rawLine.trimmingWhitespace()
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") {
                guard line.hasSuffix("]"), line.count > 2 else {
                    throw ConfigError(path: path, line: lineNumber, message: "a section header must look like [Name], found \"\(line)\"")
                }
                let name = String(line.dropFirst().dropLast()).trimmingWhitespace()
                section = name
                sections.append(Section(name: name, path: path, line: lineNumber))
                continue
            }
            guard let equals = line.firstIndex(of: "=") else {
                throw ConfigError(path: path, line: lineNumber, message: "expected Key=Value, found \"\(line)\"")
            }
            let key = String(line[..<equals]).trimmingWhitespace()
            let value = String(line[line.index(after: equals)...]).trimmingWhitespace()
            guard !key.isEmpty else {
                throw ConfigError(path: path, line: lineNumber, message: "a line starts with \"=\": the key is missing")
            }
            guard let section else {
                throw ConfigError(path: path, line: lineNumber, message: "\"\(key)\" is outside any section; put it under a [Section] header")
            }
            entries.append(Entry(section: section, key: key, value: value, path: path, line: lineNumber))
        }
    }

    /// Appends the entries of `other`, which then win over earlier entries with the same section and key.
    public mutating func merge(_ other: ConfigFile) {
        entries.append(contentsOf: other.entries)
        sections.append(contentsOf: other.sections)
    }

    /// Throws for the first section header whose name `isKnown` rejects, pointing at the header's line.
    public func checkSections(known description: String, _ isKnown: (String) -> Bool) throws(ConfigError) {
        if let unknown = sections.first(where: { !isKnown($0.name) }) {
            throw ConfigError(path: unknown.path, line: unknown.line, message: "unknown section [\(unknown.name)]; known sections: \(description)")
        }
    }

    /// The last entry for `section` / `key`, if any.
    public func entry(_ section: String, _ key: String) -> Entry? {
        entries.last { $0.section == section && $0.key == key }
    }
}

extension StringProtocol {
    /// The string without leading and trailing spaces, tabs and carriage returns.
    public func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
        guard let start = firstIndex(where: { !isSpace($0) }) else { return "" }
        let end = lastIndex(where: { !isSpace($0) })!
        return String(self[start...end])
    }
}
