import StudioCore
#if canImport(Glibc)
import Glibc
#endif

/// Checks a project directory on behalf of its future owner: it must exist, be a directory, and be one the owner
/// can enter and read — checked from the mode bits of every component, since the broker itself is root.
enum ProjectDirectory {
    static func validate(_ path: String, for owner: UserAccount) throws(WorkspaceError) -> String {
        guard path.hasPrefix("/") else {
            throw .projectDirectory(path: path, problem: "is not an absolute path")
        }
        // Look as the owner would before looking as root: a directory the owner cannot search must not tell them
        // whether something exists inside it.
        if owner.uid != 0 {
            let groups = Set(owner.groupIDs)
            var prefix = ""
            var info = stat()
            for component in path.split(separator: "/").dropLast() {
                prefix += "/\(component)"
                guard stat(prefix, &info) == 0 else { break }
                guard permitted(info, uid: owner.uid, groups: groups, bits: 1) else {
                    throw .projectDirectory(path: path, problem: "is not reachable by \(owner.name) (\(prefix) denies access); fix its permissions or pick another directory")
                }
            }
        }
        guard let resolved = realpath(path, nil) else {
            throw .projectDirectory(path: path, problem: errno == ENOENT ? "does not exist; create it first" : "cannot be resolved: \(String(cString: strerror(errno)))")
        }
        defer { free(resolved) }
        let canonical = String(cString: resolved)
        var info = stat()
        guard stat(canonical, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
            throw .projectDirectory(path: path, problem: "is not a directory")
        }
        if owner.uid == 0 { return canonical }
        let groups = Set(owner.groupIDs)
        var prefix = ""
        let components = canonical.split(separator: "/")
        for (index, component) in components.enumerated() {
            prefix += "/\(component)"
            guard stat(prefix, &info) == 0 else {
                throw .projectDirectory(path: path, problem: "cannot be examined: \(String(cString: strerror(errno)))")
            }
            let needed: mode_t = index == components.count - 1 ? 5 : 1  // r-x on the directory, --x on the way
            guard permitted(info, uid: owner.uid, groups: groups, bits: needed) else {
                throw .projectDirectory(path: path, problem: "is not readable by \(owner.name) (\(prefix) denies access); fix its permissions or pick another directory")
            }
        }
        return canonical
    }

    /// Whether `uid` (in `groups`) has `bits` (octal r=4, w=2, x=1) on the file, by owner, group, other.
    static func permitted(_ info: stat, uid: UInt32, groups: Set<UInt32>, bits: mode_t) -> Bool {
        let mode = info.st_mode
        let granted: mode_t = if info.st_uid == uid {
            (mode >> 6) & 7
        } else if groups.contains(info.st_gid) {
            (mode >> 3) & 7
        } else {
            mode & 7
        }
        return granted & bits == bits
    }
}

