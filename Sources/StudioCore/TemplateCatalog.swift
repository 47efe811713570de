#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The templates on this host: shipped ones, overridden by admin files of the same name.
public struct TemplateCatalog: Sendable, Equatable {
    public var templates: [String: Template]

    public init(templates: [String: Template]) {
        self.templates = templates
    }

    /// The names, sorted.
    public var names: [String] { templates.keys.sorted() }

    /// The template called `name`, or an error listing the ones there are.
    public func template(_ name: String) throws(WorkspaceError) -> Template {
        guard let template = templates[name] else { throw .unknownTemplate(name, known: names) }
        return template
    }

    /// Reads `*.conf` from each directory in order; later directories override earlier ones. A missing directory
    /// is fine; a broken file is an error with its path and line.
    public static func load(
        directories: [String] = [Paths.shippedTemplateDirectory, Paths.templateDirectory]
    ) throws(ConfigError) -> TemplateCatalog {
        var templates: [String: Template] = [:]
        for directory in directories {
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { continue }
            for fileName in names.sorted() where fileName.hasSuffix(".conf") {
                let path = "\(directory)/\(fileName)"
                let name = String(fileName.dropLast(".conf".count))
                guard (try? WorkspaceName(name)) != nil else {
                    throw ConfigError(path: path, line: nil, message: "a template's file name must be NAME.conf with NAME of lower-case letters, digits and dashes")
                }
                guard let data = FileManager.default.contents(atPath: path), let text = String(validating: data, as: UTF8.self) else {
                    throw ConfigError(path: path, line: nil, message: "cannot be read as UTF-8 text; check its permissions")
                }
                templates[name] = try Template(name: name, file: ConfigFile(parsing: text, path: path))
            }
        }
        return TemplateCatalog(templates: templates)
    }
}
