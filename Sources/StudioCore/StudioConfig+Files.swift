#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension StudioConfig {
    /// Reads the main file (absent is fine: defaults apply) and then `*.conf` drop-ins in lexical order.
    ///
    /// This is the one place in StudioCore that touches the file system.
    public static func load(
        file: String = Paths.configFile,
        dropInDirectory: String = Paths.configDropInDirectory
    ) throws(ConfigError) -> StudioConfig {
        var merged = ConfigFile()
        let fileManager = FileManager.default
        var paths: [String] = []
        if fileManager.fileExists(atPath: file) { paths.append(file) }
        if let names = try? fileManager.contentsOfDirectory(atPath: dropInDirectory) {
            paths += names.filter { $0.hasSuffix(".conf") }.sorted().map { "\(dropInDirectory)/\($0)" }
        }
        for path in paths {
            guard let data = fileManager.contents(atPath: path) else {
                throw ConfigError(path: path, line: nil, message: "cannot be read; check its permissions (it must be readable by the studio user)")
            }
            guard let text = String(validating: data, as: UTF8.self) else {
                throw ConfigError(path: path, line: nil, message: "is not UTF-8 text")
            }
            merged.merge(try ConfigFile(parsing: text, path: path))
        }
        return try StudioConfig(file: merged)
    }

    /// The settings, or the defaults together with the error when a file is broken. A socket-activated daemon must
    /// keep serving then: exiting would make the socket start it again at once, until systemd gives up on the
    /// socket; instead it reports the error (in the journal and to each request that depends on the settings).
    public static func loadOrDefaults(file: String, dropInDirectory: String) -> (StudioConfig, ConfigError?) {
        do {
            return (try load(file: file, dropInDirectory: dropInDirectory), nil)
        } catch {
            return (StudioConfig(), error)
        }
    }
}
