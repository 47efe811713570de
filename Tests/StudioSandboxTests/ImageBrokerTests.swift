import Foundation
import Logging
import StudioCore
import StudioNet
import StudioStore
import Testing
@testable import StudioSandbox

/// The broker's `images`: an image directory of its own with good trees and every way a tree can be wrong, links
/// that would lead a careless root out of a tree among them. Trees must be root's, so this runs as root (as in CI).
@Suite(.enabled(if: getuid() == 0, "images must be owned by root: run as root"))
final class ImageBrokerTests: Sendable {
    let root: String
    let machines: String
    let broker: Broker
    let caller = PeerCredentials(pid: getpid(), uid: getuid(), gid: getgid())

    init() throws {
        root = NSTemporaryDirectory() + "studio-images-\(UUID().uuidString.prefix(8))"
        machines = root + "/machines"
        try FileManager.default.createDirectory(atPath: machines, withIntermediateDirectories: true)
        let me = try #require(UserAccount.withUID(getuid()))
        let templates = TemplateCatalog(templates: [
            "default": Template(name: "default"),
            "dev": Template(name: "dev", backend: .container, image: try ImageName("good")),
            "web": Template(name: "web", backend: .container, image: try ImageName("good")),
            "old": Template(name: "old", backend: .container, image: try ImageName("disk")),
        ])
        let shell = me.shell
        var environment = BrokerEnvironment(
            loadConfig: { StudioConfig() }, loadTemplates: { templates }, store: try WorkspaceStore(), units: FakeUnitManager(),
            runtime: RuntimeDirectories(root: root + "/run", changeOwner: false), studioUID: 999_999, idledUID: 999_998,
            readSystemFile: { path in
                switch path {
                case "/etc/login.defs": "UID_MIN 0\nUID_MAX 4294967294\n"
                case "/etc/shells": "/bin/sh\n\(shell)\n"
                default: nil
                }
            },
            now: { 1_700_000_000 })
        environment.imageDirectory = machines
        broker = Broker(logger: Logger(label: "test"), environment: environment)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: root)
    }

    // MARK: Trees

    func write(_ path: String, _ text: String, mode: Int = 0o644) throws {
        let url = URL(fileURLWithPath: machines + "/" + path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: url, atomically: false, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: url.path)
    }

    func link(_ path: String, to destination: String) throws {
        let full = machines + "/" + path
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: full, withDestinationPath: destination)
    }

    func mkdir(_ path: String, mode: Int = 0o755) throws {
        try FileManager.default.createDirectory(atPath: machines + "/" + path, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: machines + "/" + path)
    }

    /// A merged-/usr Debian-like tree: bin -> usr/bin, usr/bin/sh -> dash, etc/os-release -> ../usr/lib/os-release.
    func tree(_ name: String, os: String? = "Debian GNU/Linux 12 (bookworm)", shell: Bool = true, etc: Bool = true) throws {
        try mkdir(name)
        try mkdir("\(name)/usr/bin")
        try mkdir("\(name)/usr/lib")
        try link("\(name)/bin", to: "usr/bin")
        if shell {
            try write("\(name)/usr/bin/dash", "#!/bin/false\n", mode: 0o755)
            try link("\(name)/usr/bin/sh", to: "dash")
        }
        if let os {
            try write("\(name)/usr/lib/os-release", "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"\(os)\"\nID=debian\n")
        }
        if etc {
            try mkdir("\(name)/etc")
            if os != nil { try link("\(name)/etc/os-release", to: "../usr/lib/os-release") }
        }
    }

    func images(as who: PeerCredentials? = nil) async throws -> (Bool, [String: Any]) {
        let request = try JSONSerialization.data(withJSONObject: ["v": 1, "op": "images"])
        let answer = await broker.handle(line: Array(request), caller: who ?? caller)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(answer)) as? [String: Any])
        let ok = object["ok"] as? Bool ?? false
        return (ok, try #require((ok ? object["result"] : object["error"]) as? [String: Any]))
    }

    func list() async throws -> [String: ImageInfo] {
        let request = try JSONSerialization.data(withJSONObject: ["v": 1, "op": "images"])
        let answer = await broker.handle(line: Array(request), caller: caller)
        let response = try JSONDecoder().decode(BrokerResponse<ImageList>.self, from: Data(answer))
        let list = try #require(response.result, "\(String(decoding: answer, as: UTF8.self))")
        return Dictionary(list.images.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    // MARK: Tests

    @Test func listsTreesWithTheirOSAndTemplatesAndSaysWhatIsWrongWithTheOthers() async throws {
        try tree("good")
        // An absolute link resolves inside the tree: the tree's own /usr/lib/os-release, not the host's.
        try tree("absolute", os: "Tree OS 1")
        try FileManager.default.removeItem(atPath: machines + "/absolute/etc/os-release")
        try link("absolute/etc/os-release", to: "/usr/lib/os-release")
        // A link to the host's /etc/os-release is the tree's own /etc/os-release (a loop): no os-release at all.
        try tree("escape", os: nil)
        try link("escape/etc/os-release", to: "/etc/os-release")
        // Climbing above the tree stays at its root.
        try tree("climb", os: nil)
        try link("climb/etc/os-release", to: "../../../../../../etc/os-release")
        try write("disk.raw", "not really a disk")
        try tree("bare", os: nil)
        try tree("nosh", shell: false)
        try tree("noetc", etc: false)
        try tree("closed")
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: machines + "/closed")
        try tree("open")
        try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: machines + "/open")
        try link("link", to: "good")
        try write("file", "just a file")
        try tree(".x.build-123")
        try mkdir("Not an image name")

        let images = try await list()
        #expect(images.keys.sorted() == ["absolute", "bare", "climb", "closed", "disk", "escape", "file", "good", "link", "noetc", "nosh", "open"])

        let good = try #require(images["good"])
        #expect(good.usable)
        #expect(good.problem == nil)
        #expect(good.os == "Debian GNU/Linux 12 (bookworm)")
        #expect(good.path == machines + "/good")
        #expect(good.templates == ["dev", "web"])
        #expect(good.modifiedAt ?? 0 > 1_700_000_000)

        #expect(images["absolute"]?.os == "Tree OS 1")
        #expect(images["absolute"]?.usable == true)
        for name in ["escape", "climb", "bare"] {
            #expect(images[name]?.os == nil, "\(name) must not read the host's os-release")
            #expect(images[name]?.usable == false)
            #expect(images[name]?.problem == "has no os-release: not an OS tree", "\(name)")
        }

        let disk = try #require(images["disk"])
        #expect(!disk.usable)
        #expect(disk.problem == "is a disk image; only directory trees are supported")
        #expect(disk.path == machines + "/disk.raw")
        #expect(disk.templates == ["old"])

        #expect(images["nosh"]?.problem == "has no /bin/sh")
        #expect(images["nosh"]?.os == "Debian GNU/Linux 12 (bookworm)")
        #expect(images["noetc"]?.problem == "has no /etc", "its os-release is in usr/lib")
        #expect(images["noetc"]?.os == "Debian GNU/Linux 12 (bookworm)")
        #expect(images["closed"]?.problem == "has mode 700, which shuts out the users inside; chmod 0755 \(machines)/closed")
        #expect(images["open"]?.problem == "is writable by others than root (mode 777); chmod 0755 \(machines)/open")
        #expect(images["link"]?.problem == "is a symbolic link; an image must be a directory in \(machines)")
        #expect(images["file"]?.problem == "is not a directory; an image is an OS tree in \(machines)")
        #expect(images.values.filter(\.usable).map(\.name).sorted() == ["absolute", "good"])
    }

    @Test func aTreeNotOwnedByRootIsNotUsable() async throws {
        try tree("theirs")
        #expect(chown(machines + "/theirs", 65534, 65534) == 0)
        let images = try await list()
        #expect(images["theirs"]?.usable == false)
        #expect(images["theirs"]?.problem == "is owned by uid 65534, not root (chown root:root \(machines)/theirs)")
    }

    @Test func aMissingImageDirectoryIsNoImages() async throws {
        try FileManager.default.removeItem(atPath: machines)
        let (ok, result) = try await images()
        #expect(ok, "\(result)")
        #expect((result["images"] as? [Any])?.isEmpty == true)
    }

    @Test func aFIFOInPlaceOfOSReleaseDoesNotHangTheBroker() async throws {
        try tree("fifo", os: nil)
        #expect(mkfifo(machines + "/fifo/etc/os-release", 0o644) == 0)
        let images = try await list()
        #expect(images["fifo"]?.problem == "has no os-release: not an OS tree")
    }

    @Test func systemAccountsMayNotAsk() async throws {
        try tree("good")
        let (ok, error) = try await images(as: PeerCredentials(pid: 7, uid: 65534, gid: 65534))
        #expect(!ok)
        #expect(error["code"] as? String == "forbidden")
    }

    @Test func prettyNames() {
        #expect(ImageDirectory.prettyName("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n") == "Debian GNU/Linux 12 (bookworm)")
        #expect(ImageDirectory.prettyName("# c\nNAME='Alpine Linux'\n") == "Alpine Linux")
        #expect(ImageDirectory.prettyName("PRETTY_NAME=\"A \\\"quoted\\\" one\"") == "A \"quoted\" one")
        #expect(ImageDirectory.prettyName("PRETTY_NAME=bare") == "bare")
        #expect(ImageDirectory.prettyName("ID=x\n") == "Linux")
    }
}
