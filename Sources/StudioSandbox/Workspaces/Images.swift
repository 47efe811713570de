import StudioCore
import StudioNet
#if canImport(Glibc)
import Glibc
#endif

extension WorkspaceService {
    /// The container images in the image directory (`/var/lib/machines`, root's and closed to others), for anyone
    /// who may have workspaces: what each is, whether a workspace can start from it, and which templates name it.
    func images(caller: PeerCredentials) async throws -> ImageList {
        _ = try await resolve(owner: nil, caller: caller, what: "images")
        let catalog = try await loadSettings().templates
        let users = catalog.names.compactMap { catalog.templates[$0] }.compactMap { template in
            template.image.map { (image: $0.rawValue, template: template.name) }
        }
        let directory = environment.imageDirectory
        return try await blocking {
            var list = ImageDirectory.list(directory)
            for index in list.images.indices {
                list.images[index].templates = users.filter { $0.image == list.images[index].name }.map(\.template)
            }
            return list
        }
    }
}

/// Reads the image directory as root without trusting anything inside an image: each entry is looked at with
/// `fstatat(AT_SYMLINK_NOFOLLOW)`, and files inside a tree are opened with ``PathWalk/openInRoot(_:_:flags:)``, so that an
/// absolute link such as `etc/os-release -> /usr/lib/os-release` resolves in the tree and never on the host.
enum ImageDirectory {
    static let diskImage = "is a disk image; only directory trees are supported"
    static let noOSRelease = "has no os-release: not an OS tree"

    /// The images, by name. A missing directory is no images; entries whose names start with `.` (builds under
    /// way: `.NAME.build-XXXXXX`) or are not image names are left out.
    static func list(_ directory: String) -> ImageList {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return ImageList(images: []) }
        defer { close(fd) }
        var images: [ImageInfo] = []
        for entry in entries(fd) where !entry.hasPrefix(".") {
            if let image = inspect(entry, in: fd, directory: directory) { images.append(image) }
        }
        return ImageList(images: images.sorted { ($0.name, $0.path) < ($1.name, $1.path) })
    }

    /// The names in a directory (readdir on a duplicate, so `fd` stays open and positioned).
    static func entries(_ fd: Int32) -> [String] {
        let copy = dup(fd)
        guard copy >= 0, let stream = fdopendir(copy) else {
            if copy >= 0 { close(copy) }
            return []
        }
        defer { closedir(stream) }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { bytes in
                String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != ".", name != ".." { names.append(name) }
        }
        return names
    }

    /// One entry: an image, or nil when its name is not an image's.
    static func inspect(_ entry: String, in fd: Int32, directory: String) -> ImageInfo? {
        var info = stat()
        guard fstatat(fd, entry, &info, AT_SYMLINK_NOFOLLOW) == 0 else { return nil }
        let path = "\(directory)/\(entry)"
        let modified = Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9
        let kind = info.st_mode & S_IFMT
        if kind == S_IFREG, entry.hasSuffix(".raw") {
            guard let name = try? ImageName(String(entry.dropLast(4))) else { return nil }
            return ImageInfo(name: name.rawValue, path: path, os: nil, usable: false, problem: diskImage, modifiedAt: modified)
        }
        guard let name = try? ImageName(entry) else { return nil }
        func unusable(_ problem: String, os: String? = nil) -> ImageInfo {
            ImageInfo(name: name.rawValue, path: path, os: os, usable: false, problem: problem, modifiedAt: modified)
        }
        switch kind {
        case S_IFDIR: break
        case S_IFLNK: return unusable("is a symbolic link; an image must be a directory in \(directory)")
        default: return unusable("is not a directory; an image is an OS tree in \(directory)")
        }
        guard info.st_uid == 0 else { return unusable("is owned by uid \(info.st_uid), not root (chown root:root \(path))") }
        let tree = openat(fd, entry, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard tree >= 0 else { return unusable("cannot be opened: \(String(cString: strerror(errno)))") }
        defer { close(tree) }
        let os = osRelease(tree).map(prettyName)
        let mode = info.st_mode & 0o7777
        if mode & 0o022 != 0 {
            return unusable("is writable by others than root (mode \(String(mode, radix: 8))); chmod 0755 \(path)", os: os)
        }
        if mode & 0o005 != 0o005 {
            return unusable("has mode \(String(mode, radix: 8)), which shuts out the users inside; chmod 0755 \(path)", os: os)
        }
        guard let os else { return unusable(noOSRelease) }
        guard isDirectory(tree, "etc") else { return unusable("has no /etc", os: os) }
        guard isExecutable(tree, "bin/sh") else { return unusable("has no /bin/sh", os: os) }
        return ImageInfo(name: name.rawValue, path: path, os: os, usable: true, modifiedAt: modified)
    }

    /// The text of the tree's `etc/os-release`, else `usr/lib/os-release` (os-release(5)), resolved inside it; nil
    /// when neither is a regular file.
    static func osRelease(_ tree: Int32) -> String? {
        ["etc/os-release", "usr/lib/os-release"].lazy.compactMap { PathWalk.readFileInRoot(tree, $0) }.first
    }

    /// `PRETTY_NAME` of an os-release text, else `NAME`, else "Linux" (os-release(5)'s default).
    static func prettyName(_ text: String) -> String {
        var values: [String: String] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            let line = line.trimmingCharacters(in: " \t")
            guard !line.hasPrefix("#"), let equals = line.firstIndex(of: "=") else { continue }
            values[String(line[..<equals])] = unquote(String(line[line.index(after: equals)...]))
        }
        return [values["PRETTY_NAME"], values["NAME"]].compactMap { $0 }.first { !$0.isEmpty } ?? "Linux"
    }

    /// A shell-style value: in double quotes (with backslash escapes), single quotes, or bare.
    static func unquote(_ value: String) -> String {
        guard let first = value.first, first == "\"" || first == "'" else { return value }
        var result = ""
        var escaped = false
        for character in value.dropFirst() {
            if escaped {
                result.append(character)
                escaped = false
            } else if character == "\\", first == "\"" {
                escaped = true
            } else if character == first {
                break
            } else {
                result.append(character)
            }
        }
        return result
    }

    static func isDirectory(_ tree: Int32, _ path: String) -> Bool {
        kind(tree, path).map { $0.st_mode & S_IFMT == S_IFDIR } ?? false
    }

    static func isExecutable(_ tree: Int32, _ path: String) -> Bool {
        kind(tree, path).map { $0.st_mode & S_IFMT == S_IFREG && $0.st_mode & 0o111 != 0 } ?? false
    }

    /// What `path` inside the tree is, its links followed inside the tree.
    static func kind(_ tree: Int32, _ path: String) -> stat? {
        let fd = PathWalk.openInRoot(tree, path, flags: PathWalk.pathOnly)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        return fstat(fd, &info) == 0 ? info : nil
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: String) -> Substring {
        var text = self
        while let first = text.first, set.contains(first) { text = text.dropFirst() }
        while let last = text.last, set.contains(last) { text = text.dropLast() }
        return text
    }
}
