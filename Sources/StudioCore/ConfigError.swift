/// A problem in a configuration file, with where it is and what to do.
public struct ConfigError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The file that holds the problem.
    public var path: String
    /// The 1-based line, or nil when the problem is with the file as a whole.
    public var line: Int?
    /// What is wrong, phrased so that a person can fix it.
    public var message: String

    public init(path: String, line: Int?, message: String) {
        self.path = path
        self.line = line
        self.message = message
    }

    public var description: String {
        if let line { return "\(path):\(line): \(message)" }
        return "\(path): \(message)"
    }
}
