/// Why a workspace request cannot be done, in words a person can act on.
public enum WorkspaceError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidName(String)
    case notFound(String)
    case alreadyExists(String)
    case projectDirectory(path: String, problem: String)
    case unknownTemplate(String, known: [String])
    case limitAboveCeiling(limit: String, requested: String, ceiling: String)
    case limitAboveMachine(limit: String, requested: String, machine: String)
    case limitOutOfRange(limit: String, value: String, range: String)
    case invalidImageName(String)
    /// A container workspace cannot start from its image.
    case image(name: String, problem: String)

    public var description: String {
        switch self {
        case .invalidName(let name):
            "\"\(name)\" is not a valid workspace name: use 1 to 63 lower-case letters, digits and dashes, starting with a letter or digit (e.g. myproject)"
        case .notFound(let name):
            "no workspace \"\(name)\"; `studioctl list` shows yours, `studioctl create NAME` makes one"
        case .alreadyExists(let name):
            "a workspace \"\(name)\" already exists; pick another name or `studioctl delete \(name)` first"
        case .projectDirectory(let path, let problem):
            "project directory \(path) \(problem)"
        case .unknownTemplate(let name, let known):
            "no template \"\(name)\"; available: \(known.joined(separator: ", "))"
        case .limitAboveCeiling(let limit, let requested, let ceiling):
            "\(limit) \(requested) is above the administrator's ceiling of \(ceiling); ask for at most \(ceiling)"
        case .limitAboveMachine(let limit, let requested, let machine):
            "\(limit) \(requested) is more than this machine has (\(machine)); ask for at most \(machine)"
        case .limitOutOfRange(let limit, let value, let range):
            "\(limit) \(value) is out of range; it must be from \(range)"
        case .invalidImageName(let name):
            "\"\(name)\" is not a valid image name: use 1 to 64 letters, digits, dots, dashes and underscores, starting with a letter or digit (e.g. bookworm-dev)"
        case .image(let name, let problem):
            "image \"\(name)\" \(problem)"
        }
    }
}
