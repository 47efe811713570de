import ArgumentParser
import StudioCore
#if canImport(Glibc)
import Glibc
#endif

/// `studioctl image …`: the administrator's commands for container images.
struct ImageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image",
        abstract: "Make container images (root).",
        discussion: "An image is an OS tree in /var/lib/machines/NAME; `studioctl images` lists them.",
        subcommands: [ImageBuild.self])
}

struct ImageBuild: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Build a Debian image with debootstrap into /var/lib/machines/NAME (root).",
        discussion: """
            Runs debootstrap into a temporary directory next to the image and renames it into place when it \
            succeeded; a failed or interrupted build leaves nothing behind. Templates use it with \
            [Template] Backend=container and Image=NAME.
            """)

    @Argument(help: ArgumentHelp("The image's name (1 to 64 letters, digits, dots, dashes, underscores).", valueName: "name"))
    var name: String

    @Option(help: ArgumentHelp("The Debian suite or codename.", valueName: "suite"))
    var suite: String = ImageBuildPlan.defaultSuite

    @Option(help: ArgumentHelp("Packages to install besides the variant's, comma-separated (may be repeated).", valueName: "list"))
    var packages: [String] = []

    @Option(help: ArgumentHelp("The Debian mirror (default: debootstrap's, deb.debian.org).", valueName: "url"))
    var mirror: String?

    @Option(help: ArgumentHelp("debootstrap's variant: minbase (the smallest) or buildd (with build-essential).", valueName: "variant"))
    var variant: String = ImageBuildPlan.defaultVariant

    func run() throws {
        do {
            let plan = try ImageBuildPlan(name: name, suite: suite, packages: packages, mirror: mirror, variant: variant)
            let built = try ImageBuilder(plan: plan, uid: geteuid()).build()
            print("built \(built.path): \(ByteSize.format(built.bytes)) in \(formatUptime(built.seconds.rounded()))")
            print("  use it in a template: [Template] Backend=container and Image=\(plan.name); `studioctl images` lists it")
        } catch {
            printError("studioctl: \(error.message)")
            throw ExitCode(error.code)
        }
    }
}

/// `studioctl images`: what the broker finds in /var/lib/machines (which only root can read).
struct Images: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the container images and whether workspaces can start from them.")

    @Flag(help: "Print JSON instead of text.")
    var json = false

    @OptionGroup var sockets: SocketOptions

    func run() async throws {
        let list = try await BrokerCall(sockets: sockets).callAndExit(.images, NoParams(), as: ImageList.self)
        if json { return print(try JSONOutput.encode(list)) }
        print(Self.table(list))
    }

    static func table(_ list: ImageList) -> String {
        if list.images.isEmpty {
            return "no images in \(Paths.imageDirectory); `sudo studioctl image build NAME` makes one"
        }
        let rows = list.images.map { image in
            [image.name, image.os ?? "-", image.usable ? "yes" : "no: \(image.problem ?? "not usable")",
             image.templates.joined(separator: ",").ifEmpty("-")]
        }
        return Format.table(header: ["NAME", "OS", "USABLE", "TEMPLATES"], rows: rows)
    }
}

/// Why `image build` stopped: the message (without "studioctl: ") and the sysexits code.
struct ImageBuildError: Error, Equatable {
    var message: String
    var code: Int32

    static func usage(_ message: String) -> Self { Self(message: message, code: 64) }  // EX_USAGE
    static func unavailable(_ message: String) -> Self { Self(message: message, code: 69) }  // EX_UNAVAILABLE
    static func failed(_ message: String) -> Self { Self(message: message, code: 70) }  // EX_SOFTWARE
    static func cannotCreate(_ message: String) -> Self { Self(message: message, code: 73) }  // EX_CANTCREAT
    static func permission(_ message: String) -> Self { Self(message: message, code: 77) }  // EX_NOPERM
}

/// What to build, every part checked: nothing reaches debootstrap that is not a plain name or URL.
struct ImageBuildPlan: Equatable {
    static let defaultSuite = "bookworm"
    static let defaultVariant = "minbase"
    static let variants = ["minbase", "buildd"]

    var name: ImageName
    var suite: String
    var packages: [String]
    var mirror: String?
    var variant: String

    init(name: String, suite: String = defaultSuite, packages: [String] = [], mirror: String? = nil, variant: String = defaultVariant)
        throws(ImageBuildError)
    {
        do {
            self.name = try ImageName(name)
        } catch {
            throw .usage("\(error)")
        }
        guard Self.isSuite(suite) else {
            throw .usage("--suite \(suite) is not a Debian suite: use lower-case letters, digits, dots and dashes (e.g. bookworm, trixie, stable)")
        }
        self.suite = suite
        var list: [String] = []
        for package in packages.flatMap({ $0.split(separator: ",", omittingEmptySubsequences: true) }).map(String.init) {
            guard Self.isPackage(package) else {
                throw .usage("--packages: \(package) is not a Debian package name: use lower-case letters, digits and + . -, at least two, starting with a letter or digit")
            }
            if !list.contains(package) { list.append(package) }
        }
        self.packages = list
        if let mirror {
            guard Self.isMirror(mirror) else {
                throw .usage("--mirror \(mirror) is not a mirror URL: write http://HOST/PATH or https://HOST/PATH (e.g. http://deb.debian.org/debian), without spaces")
            }
        }
        self.mirror = mirror
        guard Self.variants.contains(variant) else {
            throw .usage("--variant \(variant) is not one of debootstrap's variants here: \(Self.variants.joined(separator: ", "))")
        }
        self.variant = variant
    }

    /// `[a-z0-9][a-z0-9.-]*`, at most 64.
    static func isSuite(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard let first = bytes.first, bytes.count <= 64, isLowerOrDigit(first) else { return false }
        return bytes.allSatisfy { isLowerOrDigit($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }
    }

    /// Debian policy 5.6.1: `[a-z0-9][a-z0-9+.-]+`.
    static func isPackage(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard let first = bytes.first, bytes.count >= 2, bytes.count <= 128, isLowerOrDigit(first) else { return false }
        return bytes.allSatisfy { isLowerOrDigit($0) || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }
    }

    /// `http://` or `https://`, a host, and nothing but printable ASCII without spaces.
    static func isMirror(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard let scheme = ["http://", "https://"].first(where: { text.hasPrefix($0) }), bytes.count <= 1024 else { return false }
        let rest = bytes.dropFirst(scheme.utf8.count)
        guard let first = rest.first, first != UInt8(ascii: "/") else { return false }
        return bytes.allSatisfy { $0 > 0x20 && $0 < 0x7f }
    }

    static func isLowerOrDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    /// The command line that builds it, as a person would type it (for the "needs root" hint).
    var commandLine: String {
        var words = ["studioctl", "image", "build", name.rawValue]
        if suite != Self.defaultSuite { words += ["--suite", suite] }
        if !packages.isEmpty { words += ["--packages", packages.joined(separator: ",")] }
        if let mirror { words += ["--mirror", mirror.contains(where: { "&;?*'\"$`\\|<>()[]{}!#~".contains($0) }) ? "'\(mirror)'" : mirror] }
        if variant != Self.defaultVariant { words += ["--variant", variant] }
        return words.joined(separator: " ")
    }

    /// debootstrap's arguments, for a tree at `target`.
    func arguments(debootstrap: String, target: String) -> [String] {
        [debootstrap, "--variant=\(variant)"] + (packages.isEmpty ? [] : ["--include=\(packages.joined(separator: ","))"])
            + [suite, target] + (mirror.map { [$0] } ?? [])
    }
}

/// Builds an image: debootstrap into `DIRECTORY/.NAME.build-XXXXXX` (made by mkdtemp on the same file system),
/// `chmod 0755` of the tree's root (mkdtemp's 0700 would shut everyone inside the container out of everything), and a
/// rename to `DIRECTORY/NAME`. A failure or SIGINT/SIGTERM removes the temporary tree (anything debootstrap left
/// mounted in it unmounted first, then `rm -rf --one-file-system`, which follows no link).
struct ImageBuilder {
    var plan: ImageBuildPlan
    /// The effective uid (root is needed).
    var uid: uid_t
    var directory = Paths.imageDirectory
    var debootstrap = "/usr/sbin/debootstrap"

    struct Built {
        var path: String
        var bytes: UInt64
        var seconds: Double
    }

    func build() throws(ImageBuildError) -> Built {
        guard uid == 0 else {
            throw .permission("building an image needs root: run `sudo \(plan.commandLine)`")
        }
        guard access(debootstrap, X_OK) == 0 else {
            throw .unavailable("\(debootstrap) is missing: install it with `apt install debootstrap`")
        }
        let path = "\(directory)/\(plan.name)"
        try checkDirectory()
        try checkFree(path)

        let started = Self.monotonic()
        let signals = BuildSignals()
        defer { signals.restore() }
        var template = Array("\(directory)/.\(plan.name).build-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw .cannotCreate("cannot make a directory in \(directory): \(Self.lastError())")
        }
        let temporary = String(cString: made)
        let argv = plan.arguments(debootstrap: debootstrap, target: temporary)
        print("studioctl: \(argv.joined(separator: " "))")
        fflush(nil)
        let outcome = DebootstrapRun.run(argv, signals: signals)
        Self.unmount(below: temporary)
        guard outcome.status == 0, !outcome.interrupted, !signals.received else {
            var lines = ["\(outcome.interrupted || signals.received ? "interrupted; debootstrap stopped" : "debootstrap failed (\(outcome.describedStatus))")"]
            lines += Self.logTail(temporary)
            lines += Self.remove(temporary)
            let tail = outcome.tail
            if !tail.isEmpty { lines += ["debootstrap's last words:"] + tail.map { "  \($0)" } }
            throw .failed(lines.joined(separator: "\n"))
        }
        guard chmod(temporary, 0o755) == 0 else {
            let error = Self.lastError()
            throw .failed((["cannot chmod 0755 \(temporary): \(error)"] + Self.remove(temporary)).joined(separator: "\n"))
        }
        do {
            try checkFree(path)
        } catch {
            throw ImageBuildError(message: ([error.message] + Self.remove(temporary)).joined(separator: "\n"), code: error.code)
        }
        guard rename(temporary, path) == 0 else {
            let error = Self.lastError()
            throw .failed((["cannot rename \(temporary) to \(path): \(error)"] + Self.remove(temporary)).joined(separator: "\n"))
        }
        signals.restore()
        let seconds = Self.monotonic() - started
        return Built(path: path, bytes: DiskUsage.bytes(path), seconds: seconds)
    }

    /// The image directory: made (root's, 0700, as systemd makes it) when missing; a real directory of the builder's.
    func checkDirectory() throws(ImageBuildError) {
        var info = stat()
        if lstat(directory, &info) != 0 {
            guard errno == ENOENT, mkdir(directory, 0o700) == 0, lstat(directory, &info) == 0 else {
                throw .cannotCreate("cannot make \(directory): \(Self.lastError())")
            }
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw .cannotCreate("\(directory) is not a directory (a symbolic link?); images are built only into a real directory")
        }
        guard info.st_uid == uid, info.st_mode & 0o022 == 0 else {
            throw .cannotCreate("\(directory) must be root's and writable by root alone (it is uid \(info.st_uid), mode \(String(info.st_mode & 0o7777, radix: 8)))")
        }
    }

    /// Neither NAME nor NAME.raw (which systemd's tools would also call NAME) exists.
    func checkFree(_ path: String) throws(ImageBuildError) {
        for candidate in [path, path + ".raw"] {
            var info = stat()
            if lstat(candidate, &info) == 0 {
                throw .cannotCreate("\(candidate) exists already: remove it with `machinectl remove \(plan.name)` or pick another name")
            }
        }
    }

    /// Anything mounted at or below `path` (debootstrap mounts /proc, /sys and /dev/pts in the target and may be
    /// killed before it unmounts them), unmounted deepest first, without following links.
    static func unmount(below path: String) {
        guard let resolved = realpath(path, nil) else { return }
        let root = String(cString: resolved)
        free(resolved)
        guard let text = readFile("/proc/self/mountinfo") else { return }
        let points = text.split(separator: "\n").compactMap { line -> String? in
            let fields = line.split(separator: " ")
            guard fields.count > 4 else { return nil }
            let point = unescapeMountPoint(String(fields[4]))
            return point == root || point.hasPrefix(root + "/") ? point : nil
        }
        for point in points.sorted(by: { $0.utf8.count > $1.utf8.count }) {
            _ = umount2(point, Int32(MNT_DETACH) | Int32(UMOUNT_NOFOLLOW))
        }
    }

    /// mountinfo's octal escapes (`\040` for a space).
    static func unescapeMountPoint(_ text: String) -> String {
        var bytes: [UInt8] = []
        let source = Array(text.utf8)
        var index = 0
        while index < source.count {
            if source[index] == UInt8(ascii: "\\"), index + 3 < source.count + 0,
               let value = UInt8(String(decoding: source[(index + 1)...(index + 3)], as: UTF8.self), radix: 8)
            {
                bytes.append(value)
                index += 4
            } else {
                bytes.append(source[index])
                index += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The end of debootstrap's own log, which is inside the tree about to be removed.
    static func logTail(_ temporary: String) -> [String] {
        guard let text = readFile("\(temporary)/debootstrap/debootstrap.log") else { return [] }
        let lines = text.split(separator: "\n").suffix(15).map { "  \($0)" }
        return lines.isEmpty ? [] : ["debootstrap.log ended with:"] + lines
    }

    /// Removes the temporary tree without crossing into other file systems or following links; what to say about it.
    static func remove(_ temporary: String) -> [String] {
        fflush(nil)
        let status = Spawn.wait(Spawn.start(["/bin/rm", "-rf", "--one-file-system", "--preserve-root=all", "--", temporary]))
        var info = stat()
        if status == 0, lstat(temporary, &info) != 0 { return ["removed \(temporary)"] }
        return ["could not remove all of \(temporary); remove it by hand: rm -rf --one-file-system \(temporary)"]
    }

    static func readFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { break }
            bytes += buffer.prefix(count)
            if bytes.count > 4 << 20 { bytes.removeFirst(bytes.count - (1 << 20)) }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func monotonic() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    static func lastError() -> String { String(cString: strerror(errno)) }
}

/// SIGINT and SIGTERM turned into bytes on a pipe while a build runs, so that the build can stop debootstrap and
/// clean up instead of dying with a half-made tree in place.
final class BuildSignals {
    nonisolated(unsafe) static var writeEnd: Int32 = -1
    let readEnd: Int32
    private var active = true
    private var previous: [(Int32, sighandler_t?)] = []

    init() {
        var fds: [Int32] = [-1, -1]
        _ = pipe(&fds)
        for fd in fds {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, O_NONBLOCK)
        }
        readEnd = fds[0]
        Self.writeEnd = fds[1]
        for signal in [SIGINT, SIGTERM, SIGHUP] {
            previous.append((signal, Glibc.signal(signal) { number in
                var byte = UInt8(truncatingIfNeeded: number)
                _ = write(BuildSignals.writeEnd, &byte, 1)
            }))
        }
    }

    /// Whether a signal came since the last look (reads what is pending).
    func take() -> Bool {
        var byte: UInt8 = 0
        var any = false
        while read(readEnd, &byte, 1) == 1 { any = true }
        if any { seen = true }
        return any
    }

    /// Whether a signal came at all.
    var received: Bool {
        _ = take()
        return seen
    }

    private var seen = false

    /// Puts the earlier handlers back (once).
    func restore() {
        guard active else { return }
        active = false
        for (signal, handler) in previous { _ = Glibc.signal(signal, handler) }
        close(Self.writeEnd)
        close(readEnd)
        Self.writeEnd = -1
    }
}

/// debootstrap, run in a process group of its own with its output (stdout and stderr, in order) copied to ours and
/// its last lines kept; on a signal the whole group gets SIGTERM, and SIGKILL if it is not gone after 15 s.
enum DebootstrapRun {
    struct Outcome {
        var status: Int32
        var interrupted: Bool
        var tail: [String]

        var describedStatus: String { status > 128 ? "killed by signal \(status - 128)" : "exit status \(status)" }
    }

    static func run(_ argv: [String], signals: BuildSignals) -> Outcome {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { return Outcome(status: 127, interrupted: false, tail: ["pipe: \(ImageBuilder.lastError())"]) }
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        let environment = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C"]
            + Spawn.inherited(except: ["PATH", "DEBIAN_FRONTEND", "LC_ALL"])
        let pid = Spawn.start(argv, environment: environment, output: fds[1], ownGroup: true)
        close(fds[1])
        guard pid > 0 else {
            close(fds[0])
            return Outcome(status: 127, interrupted: false, tail: ["cannot run \(argv[0]): \(String(cString: strerror(-pid)))"])
        }
        var tail: [UInt8] = []
        var interrupted = false
        var killAt: Double?
        var buffer = [UInt8](repeating: 0, count: 65536)
        var polls = [pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0), pollfd(fd: signals.readEnd, events: Int16(POLLIN), revents: 0)]
        while true {
            _ = poll(&polls, nfds_t(polls.count), killAt == nil ? -1 : 1000)
            if signals.take() {
                // The first signal asks debootstrap to stop (it unmounts what it mounted); a second one insists.
                kill(-pid, interrupted ? SIGKILL : SIGTERM)
                killAt = interrupted ? nil : ImageBuilder.monotonic() + 15
                interrupted = true
            }
            if let deadline = killAt, ImageBuilder.monotonic() > deadline {
                kill(-pid, SIGKILL)
                killAt = nil
            }
            guard polls[0].revents != 0 else { continue }
            let count = buffer.withUnsafeMutableBytes { read(fds[0], $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR || errno == EAGAIN { continue }
            guard count > 0 else { break }
            _ = buffer.withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress, count) }
            tail += buffer.prefix(count)
            if tail.count > 16384 { tail.removeFirst(tail.count - 8192) }
        }
        close(fds[0])
        let status = Spawn.wait(pid)
        // What debootstrap started may outlive it (it was in the same group): gone before the tree is removed.
        let deadline = ImageBuilder.monotonic() + 15
        while kill(-pid, 0) == 0 {
            if ImageBuilder.monotonic() > deadline { kill(-pid, SIGKILL) }
            usleep(100_000)
        }
        let lines = String(decoding: tail, as: UTF8.self).split(whereSeparator: \.isNewline).map(String.init).filter { !$0.isEmpty }
        return Outcome(status: status, interrupted: interrupted, tail: Array(lines.suffix(10)))
    }
}

/// posix_spawn for the image builder: stdin from /dev/null, optionally stdout and stderr to one descriptor and a
/// process group of its own, signals at their defaults.
enum Spawn {
    /// The child's pid, or -errno.
    static func start(_ argv: [String], environment: [String]? = nil, output: Int32? = nil, ownGroup: Bool = false) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0)
        if let output {
            posix_spawn_file_actions_adddup2(&actions, output, STDOUT_FILENO)
            posix_spawn_file_actions_adddup2(&actions, output, STDERR_FILENO)
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGQUIT] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        var flags = Int32(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK)
        if ownGroup {
            flags |= Int32(POSIX_SPAWN_SETPGROUP)
            posix_spawnattr_setpgroup(&attributes, 0)
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))
        let cArgs = argv.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        var pid: pid_t = 0
        let result: Int32
        if let environment {
            let cEnv = environment.map { strdup($0) } + [nil]
            defer { cEnv.forEach { free($0) } }
            result = posix_spawn(&pid, argv[0], &actions, &attributes, cArgs, cEnv)
        } else {
            result = posix_spawn(&pid, argv[0], &actions, &attributes, cArgs, environ)
        }
        return result == 0 ? pid : -result
    }

    /// Waits for a child; its exit status, or 128 + the signal that ended it (127 when it did not start).
    static func wait(_ pid: pid_t) -> Int32 {
        guard pid > 0 else { return 127 }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { return 127 }
        }
        return status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    /// Our environment without the named variables.
    static func inherited(except names: [String]) -> [String] {
        var result: [String] = []
        var entry = environ
        while let pointer = entry.pointee {
            let text = String(cString: pointer)
            if let equals = text.firstIndex(of: "="), !names.contains(String(text[..<equals])) { result.append(text) }
            entry += 1
        }
        return result
    }
}

/// What a tree takes on disk (`du -sx`): allocated blocks, each inode once, on the tree's file system only, no link
/// followed.
enum DiskUsage {
    static func bytes(_ path: String) -> UInt64 {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return 0 }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            close(fd)
            return 0
        }
        var seen = Swift.Set<[UInt64]>()
        return UInt64(info.st_blocks) * 512 + walk(fd, device: info.st_dev, seen: &seen)
    }

    /// Sums the entries of the directory `fd` (which it closes).
    private static func walk(_ fd: Int32, device: dev_t, seen: inout Swift.Set<[UInt64]>) -> UInt64 {
        guard let stream = fdopendir(fd) else {
            close(fd)
            return 0
        }
        defer { closedir(stream) }
        var total: UInt64 = 0
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name == "." || name == ".." { continue }
            var info = stat()
            guard fstatat(fd, name, &info, AT_SYMLINK_NOFOLLOW) == 0, info.st_dev == device else { continue }
            if info.st_nlink > 1, info.st_mode & S_IFMT != S_IFDIR {
                guard seen.insert([UInt64(info.st_dev), UInt64(info.st_ino)]).inserted else { continue }
            }
            total += UInt64(info.st_blocks) * 512
            if info.st_mode & S_IFMT == S_IFDIR {
                let child = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                if child >= 0 { total += walk(child, device: device, seen: &seen) }
            }
        }
        return total
    }
}
