import Foundation
import StudioCore
import Testing
@testable import StudioCLI

/// `studioctl image build`: what it accepts (exact messages and exit codes), and the build itself with a stand-in
/// for debootstrap in a directory of the test's own.
@Suite struct ImageBuildPlanTests {
    func refusal(
        name: String = "dev", suite: String = "bookworm", packages: [String] = [], mirror: String? = nil, variant: String = "minbase"
    ) -> ImageBuildError? {
        do {
            _ = try ImageBuildPlan(name: name, suite: suite, packages: packages, mirror: mirror, variant: variant)
            return nil
        } catch {
            return error
        }
    }

    @Test func badInputIsUsageWithWhatWasWrong() {
        let cases: [(ImageBuildError?, String)] = [
            (refusal(name: "../etc"), "\"../etc\" is not a valid image name: use 1 to 64 letters, digits, dots, dashes and underscores, starting with a letter or digit (e.g. bookworm-dev)"),
            (refusal(name: ".hidden"), "\".hidden\" is not a valid image name: use 1 to 64 letters, digits, dots, dashes and underscores, starting with a letter or digit (e.g. bookworm-dev)"),
            (refusal(suite: "Bookworm"), "--suite Bookworm is not a Debian suite: use lower-case letters, digits, dots and dashes (e.g. bookworm, trixie, stable)"),
            (refusal(suite: "-x"), "--suite -x is not a Debian suite: use lower-case letters, digits, dots and dashes (e.g. bookworm, trixie, stable)"),
            (refusal(suite: "../x"), "--suite ../x is not a Debian suite: use lower-case letters, digits, dots and dashes (e.g. bookworm, trixie, stable)"),
            (refusal(packages: ["git,Build-Essential"]), "--packages: Build-Essential is not a Debian package name: use lower-case letters, digits and + . -, at least two, starting with a letter or digit"),
            (refusal(packages: ["git", "x"]), "--packages: x is not a Debian package name: use lower-case letters, digits and + . -, at least two, starting with a letter or digit"),
            (refusal(packages: ["--foo"]), "--packages: --foo is not a Debian package name: use lower-case letters, digits and + . -, at least two, starting with a letter or digit"),
            (refusal(packages: ["vim;rm"]), "--packages: vim;rm is not a Debian package name: use lower-case letters, digits and + . -, at least two, starting with a letter or digit"),
            (refusal(mirror: "ftp://deb.debian.org/debian"), "--mirror ftp://deb.debian.org/debian is not a mirror URL: write http://HOST/PATH or https://HOST/PATH (e.g. http://deb.debian.org/debian), without spaces"),
            (refusal(mirror: "http://deb.debian.org/deb ian"), "--mirror http://deb.debian.org/deb ian is not a mirror URL: write http://HOST/PATH or https://HOST/PATH (e.g. http://deb.debian.org/debian), without spaces"),
            (refusal(mirror: "http:///debian"), "--mirror http:///debian is not a mirror URL: write http://HOST/PATH or https://HOST/PATH (e.g. http://deb.debian.org/debian), without spaces"),
            (refusal(variant: "fakechroot"), "--variant fakechroot is not one of debootstrap's variants here: minbase, buildd"),
        ]
        for (error, message) in cases {
            #expect(error == ImageBuildError(message: message, code: 64))
        }
    }

    @Test func goodInputBecomesDebootstrapsArguments() throws {
        let plan = try ImageBuildPlan(name: "dev", packages: ["git,build-essential", "g++", "git"], mirror: "https://deb.debian.org/debian")
        #expect(plan.packages == ["git", "build-essential", "g++"])
        #expect(plan.arguments(debootstrap: "/usr/sbin/debootstrap", target: "/m/.dev.build-x") == [
            "/usr/sbin/debootstrap", "--variant=minbase", "--include=git,build-essential,g++", "bookworm", "/m/.dev.build-x",
            "https://deb.debian.org/debian",
        ])
        let plain = try ImageBuildPlan(name: "plain", suite: "trixie", variant: "buildd")
        #expect(plain.arguments(debootstrap: "/d", target: "/t") == ["/d", "--variant=buildd", "trixie", "/t"])
        #expect(plain.commandLine == "studioctl image build plain --suite trixie --variant buildd")
        #expect(plan.commandLine == "studioctl image build dev --packages git,build-essential,g++ --mirror https://deb.debian.org/debian")
    }

    @Test func mountPointsAreUnescaped() {
        #expect(ImageBuilder.unescapeMountPoint("/var/lib/machines/.a\\040b.build-x/proc") == "/var/lib/machines/.a b.build-x/proc")
        #expect(ImageBuilder.unescapeMountPoint("/plain") == "/plain")
    }

    @Test func theTableSaysWhatIsWrong() {
        let list = ImageList(images: [
            ImageInfo(name: "dev", path: "/var/lib/machines/dev", os: "Debian GNU/Linux 12 (bookworm)", usable: true, templates: ["a", "b"]),
            ImageInfo(name: "disk", path: "/var/lib/machines/disk.raw", os: nil, usable: false, problem: "is a disk image; only directory trees are supported"),
        ])
        let lines = Images.table(list).split(separator: "\n").map { String($0).replacingOccurrences(of: "  +", with: " ", options: .regularExpression) }
        #expect(lines == [
            "NAME OS USABLE TEMPLATES", "dev Debian GNU/Linux 12 (bookworm) yes a,b",
            "disk - no: is a disk image; only directory trees are supported -",
        ])
        #expect(Images.table(ImageList(images: [])) == "no images in /var/lib/machines; `sudo studioctl image build NAME` makes one")
    }
}

/// The build, with a shell script standing in for debootstrap. The builder wants root (and a root-owned directory),
/// as in CI; these run one at a time, since a build owns SIGINT and SIGTERM while it runs.
@Suite(.serialized, .enabled(if: getuid() == 0, "image builds need root"))
final class ImageBuilderTests {
    let root: String
    let machines: String
    let fake: String

    init() throws {
        root = NSTemporaryDirectory() + "studio-image-build-\(UUID().uuidString.prefix(8))"
        machines = root + "/machines"
        fake = root + "/debootstrap"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: root)
    }

    /// A debootstrap that finds its target (the second argument that is not an option) and runs `body` with it in $T.
    func debootstrap(_ body: String) throws {
        let script = """
            #!/bin/sh
            n=0
            for a in "$@"; do
              case $a in --*) ;; *) n=$((n+1)); [ $n = 2 ] && T=$a ;; esac
            done
            echo "$@" > \(root)/argv
            \(body)
            """
        try script.write(toFile: fake, atomically: false, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: fake)
    }

    func builder(_ name: String = "dev", packages: [String] = [], uid: uid_t = 0) throws -> ImageBuilder {
        ImageBuilder(plan: try ImageBuildPlan(name: name, packages: packages), uid: uid, directory: machines, debootstrap: fake)
    }

    func build(_ builder: ImageBuilder) -> Result<ImageBuilder.Built, ImageBuildError> {
        do {
            return .success(try builder.build())
        } catch {
            return .failure(error)
        }
    }

    func entries() -> [String] { (try? FileManager.default.contentsOfDirectory(atPath: machines))?.sorted() ?? [] }

    @Test func onlyRootBuilds() throws {
        try debootstrap("exit 0")
        guard case .failure(let error) = build(try builder(packages: ["git"], uid: 1000)) else { Issue.record("built as uid 1000"); return }
        #expect(error == ImageBuildError(message: "building an image needs root: run `sudo studioctl image build dev --packages git`", code: 77))
        #expect(!FileManager.default.fileExists(atPath: machines))
    }

    @Test func aMissingDebootstrapSaysWhatToInstall() throws {
        guard case .failure(let error) = build(try builder()) else { Issue.record("built without debootstrap"); return }
        #expect(error == ImageBuildError(message: "\(fake) is missing: install it with `apt install debootstrap`", code: 69))
    }

    @Test func aSuccessfulBuildIsRenamedIntoPlaceWithMode0755() throws {
        try debootstrap("mkdir -p $T/etc $T/usr/lib && echo 'PRETTY_NAME=\"Fake\"' > $T/usr/lib/os-release && head -c 100000 /dev/zero > $T/big && echo I: done")
        guard case .success(let built) = build(try builder(packages: ["git,vim"])) else { Issue.record("the build failed"); return }
        #expect(built.path == machines + "/dev")
        #expect(built.bytes >= 100_000)
        #expect(entries() == ["dev"], "no temporary directory left")
        var info = stat()
        #expect(stat(machines + "/dev", &info) == 0)
        #expect(info.st_mode & 0o7777 == 0o755)
        #expect(stat(machines, &info) == 0)
        #expect(info.st_mode & 0o7777 == 0o700, "the image directory is made root's and 0700, as systemd makes it")
        let argv = try String(contentsOfFile: root + "/argv", encoding: .utf8)
        #expect(argv.hasPrefix("--variant=minbase --include=git,vim bookworm \(machines)/.dev.build-"))

        guard case .failure(let again) = build(try builder()) else { Issue.record("built over an existing image"); return }
        #expect(again == ImageBuildError(
            message: "\(machines)/dev exists already: remove it with `machinectl remove dev` or pick another name", code: 73))
        #expect(entries() == ["dev"])
    }

    @Test func aFailedBuildLeavesNothingAndSaysWhy() throws {
        try debootstrap("""
            mkdir -p $T/debootstrap $T/var/cache && echo 'the log says why' > $T/debootstrap/debootstrap.log
            echo "E: Couldn't find these debs: nosuchpackage" >&2
            exit 1
            """)
        guard case .failure(let error) = build(try builder(packages: ["nosuchpackage"])) else { Issue.record("the build succeeded"); return }
        #expect(error.code == 70)
        let lines = error.message.split(separator: "\n").map(String.init)
        #expect(lines.first == "debootstrap failed (exit status 1)")
        #expect(lines.contains("  the log says why"))
        #expect(lines.contains { $0.hasPrefix("removed \(machines)/.dev.build-") })
        #expect(lines.last == "  E: Couldn't find these debs: nosuchpackage")
        #expect(entries() == [])
    }

    @Test func anInterruptedBuildStopsDebootstrapAndLeavesNothing() async throws {
        try debootstrap("mkdir -p $T/etc && touch \(root)/running && sleep 60")
        let marker = root + "/running"
        let interrupter = Task.detached {
            for _ in 0..<200 {
                if FileManager.default.fileExists(atPath: marker) {
                    kill(getpid(), SIGINT)  // the build's handler has it: it is installed before debootstrap starts
                    return
                }
                try? await Task.sleep(for: .milliseconds(50))
            }
        }
        let started = Date()
        let result = build(try builder())
        _ = await interrupter.value
        guard case .failure(let error) = result else { Issue.record("the build succeeded"); return }
        #expect(error.code == 70)
        #expect(error.message.hasPrefix("interrupted; debootstrap stopped"), "\(error.message)")
        #expect(Date().timeIntervalSince(started) < 20, "the sleep in debootstrap's group was stopped too")
        #expect(entries() == [])
    }
}
