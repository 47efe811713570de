import Foundation
import Testing
@testable import StudioCore

@Suite struct ConfigFileTests {
    @Test func parsesSectionsKeysAndComments() throws {
        let file = try ConfigFile(parsing: """
            # comment
            ; another
            [Server]
              IdleExitSec = 90s

            [Broker]
            IdleExitSec=0
            """, path: "/etc/studio/studio.conf")
        #expect(file.entries.count == 2)
        #expect(file.entry("Server", "IdleExitSec")?.value == "90s")
        #expect(file.entry("Server", "IdleExitSec")?.line == 4)
        #expect(file.entry("Broker", "IdleExitSec")?.value == "0")
    }

    @Test func reportsPathLineAndProblem() {
        #expect(throws: ConfigError(path: "/x.conf", line: 2, message: "expected Key=Value, found \"oops\"")) {
            try ConfigFile(parsing: "[Server]\noops\n", path: "/x.conf")
        }
        #expect(throws: ConfigError(path: "/x.conf", line: 1, message: "\"IdleExitSec\" is outside any section; put it under a [Section] header")) {
            try ConfigFile(parsing: "IdleExitSec=3\n", path: "/x.conf")
        }
        #expect(throws: ConfigError.self) { try ConfigFile(parsing: "[Server\n", path: "/x.conf") }
        #expect(throws: ConfigError.self) { try ConfigFile(parsing: "[Server]\n=3\n", path: "/x.conf") }
    }

    @Test func laterEntriesWin() throws {
        var merged = try ConfigFile(parsing: "[Server]\nIdleExitSec=10s\n", path: "a")
        merged.merge(try ConfigFile(parsing: "[Server]\nIdleExitSec=20s\n", path: "b"))
        #expect(try StudioConfig(file: merged).serverIdleExitSeconds == 20)
    }
}

@Suite struct StudioConfigTests {
    @Test func defaultsWhenNothingIsSet() throws {
        let config = try StudioConfig(file: ConfigFile())
        #expect(config.serverIdleExitSeconds == 120)
        #expect(config.brokerIdleExitSeconds == 60)
    }

    @Test func unknownKeysAndSectionsAreErrorsNamingWhatIsKnown() {
        do {
            _ = try StudioConfig(file: ConfigFile(parsing: "[Server]\nIdleExitSecs=3\n", path: "/c"))
            Issue.record("a misspelt key was accepted")
        } catch {
            #expect(error.line == 2)
            #expect(error.message.contains("unknown key \"IdleExitSecs\""))
            #expect(error.message.contains("IdleExitSec"))
        }
        #expect(throws: ConfigError.self) { try StudioConfig(file: ConfigFile(parsing: "[Nope]\nA=1\n", path: "/c")) }
    }

    @Test func anUnknownSectionIsAnErrorEvenWithoutKeys() {
        do {
            _ = try StudioConfig(file: ConfigFile(parsing: "[Server]\nIdleExitSec=3s\n[Nope]\n", path: "/c"))
            Issue.record("an unknown empty section was accepted")
        } catch {
            #expect(error.line == 3)
            #expect(error.message.hasPrefix("unknown section [Nope]"))
        }
    }

    @Test func aBrokenFileLeavesTheDefaultsAndTheError() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("studio-broken-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try "[Server]\nIdleExitSec=3s\n[Nope]\n".write(to: directory.appendingPathComponent("10-x.conf"), atomically: true, encoding: .utf8)
        let (config, error) = StudioConfig.loadOrDefaults(file: "/nonexistent", dropInDirectory: directory.path)
        #expect(config == StudioConfig())
        #expect(error?.path.hasSuffix("10-x.conf") == true)
        #expect(error?.line == 3)
    }

    @Test func badDurationsAreRejectedWithTheValue() {
        do {
            _ = try StudioConfig(file: ConfigFile(parsing: "[Server]\nIdleExitSec=soon\n", path: "/c"))
            Issue.record("a bad duration was accepted")
        } catch {
            #expect(error.description == "/c:2: IdleExitSec=soon is not a time span; write e.g. 90s, 5min or 2h")
        }
    }

    @Test func loadsMainFileThenDropInsInOrder() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("studio-config-\(UUID())")
        let dropIns = directory.appendingPathComponent("studio.conf.d")
        try FileManager.default.createDirectory(at: dropIns, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try "[Server]\nIdleExitSec=1min\n[Broker]\nIdleExitSec=5s\n".write(to: directory.appendingPathComponent("studio.conf"), atomically: true, encoding: .utf8)
        try "[Server]\nIdleExitSec=2min\n".write(to: dropIns.appendingPathComponent("10-a.conf"), atomically: true, encoding: .utf8)
        try "[Server]\nIdleExitSec=3min\n".write(to: dropIns.appendingPathComponent("20-b.conf"), atomically: true, encoding: .utf8)
        try "[Server]\nIdleExitSec=bogus\n".write(to: dropIns.appendingPathComponent("30-ignored.conf.disabled"), atomically: true, encoding: .utf8)
        let config = try StudioConfig.load(file: directory.appendingPathComponent("studio.conf").path, dropInDirectory: dropIns.path)
        #expect(config.serverIdleExitSeconds == 180)
        #expect(config.brokerIdleExitSeconds == 5)
    }

    @Test func missingFilesMeanDefaults() throws {
        let config = try StudioConfig.load(file: "/nonexistent/studio.conf", dropInDirectory: "/nonexistent/studio.conf.d")
        #expect(config == StudioConfig())
    }
}

@Suite struct DurationParserTests {
    @Test(arguments: [
        ("90", 90.0), ("90s", 90), ("5min", 300), ("2h", 7200), ("1h 30min", 5400), ("500ms", 0.5), ("1.5s", 1.5), ("1d", 86400),
    ])
    func parses(text: String, seconds: Double) {
        #expect(DurationParser.seconds(text) == seconds)
    }

    @Test(arguments: ["", "soon", "5 parsecs", "-3s", "s"])
    func rejects(text: String) {
        #expect(DurationParser.seconds(text) == nil)
    }
}

@Suite struct AccessAndRangeConfigTests {
    func config(_ text: String) throws -> StudioConfig {
        try StudioConfig(file: ConfigFile(parsing: text, path: "/etc/studio/studio.conf"))
    }

    @Test func accessGroupIsANameOrNothing() throws {
        #expect(try config("[Access]\nGroup=studio-users\n").accessGroup == "studio-users")
        #expect(try config("[Access]\nGroup=\n").accessGroup == nil)
        #expect(throws: ConfigError.self) { try config("[Access]\nGroup=bad group\n") }
    }

    @Test func limitsOutOfRangeAreConfigErrorsWithTheRange() {
        #expect(throws: ConfigError(path: "/etc/studio/studio.conf", line: 2, message: "MemoryMax=1K must be from 16M to 1024T")) {
            try config("[Limits]\nMemoryMax=1K\n")
        }
        for bad in ["TasksMax=2", "CPUs=0", "CPUs=1e308", "CPUs=nan", "CPUWeight=0", "MemoryMax=99999999999T"] {
            #expect(throws: ConfigError.self, "\(bad)") { try config("[Ceilings]\n\(bad)\n") }
        }
    }

    @Test func requestsOutOfRangeNameTheLimitAndTheRange() {
        #expect(throws: WorkspaceError.limitOutOfRange(limit: "tasks", value: "9223372036854775808", range: "16 to 4194304")) {
            try ResourceLimits(tasksMax: 1 << 63).checkRanges()
        }
        #expect(throws: WorkspaceError.self) { try ResourceLimits(cpus: -1).checkRanges() }
        #expect(throws: WorkspaceError.self) { try ResourceLimits(cpus: .infinity).checkRanges() }
        #expect(ByteSize.parse("99999999999T") == nil, "past 2^63 bytes is no size (and must not trap)")
        #expect(ResourceLimits(cpus: 1e308).cpuQuotaPerSecMicroseconds == UInt64.max - 1, "never traps")
    }
}

@Suite struct IdleConfigTests {
    func config(_ text: String) throws -> StudioConfig { try StudioConfig(file: ConfigFile(parsing: text, path: "/etc/studio/studio.conf")) }

    @Test func defaultsAreTwoHoursAndATenthOfACPU() throws {
        let config = try config("")
        #expect(config.idleTimeoutSeconds == 7200)
        #expect(config.busyCPU == 0.10)
        #expect(config.cpuMeasure == "auto")
    }

    @Test func valuesAsAdminsWriteThem() throws {
        let config = try config("[Idle]\nTimeout=30min\nBusyCPU=25%\nCPUMeasure=processes\n")
        #expect(config.idleTimeoutSeconds == 1800)
        #expect(config.busyCPU == 0.25)
        #expect(config.cpuMeasure == "processes")
        #expect(try self.config("[Idle]\nTimeout=0\nBusyCPU=0.5\n").idleTimeoutSeconds == 0)
        #expect(try self.config("[Idle]\nBusyCPU=0.5\n").busyCPU == 0.5)
    }

    @Test func badValuesNameTheLineAndWhatToWrite() {
        #expect(throws: ConfigError(path: "/etc/studio/studio.conf", line: 2, message: "Timeout=30s is out of range; write 0 (never) or from 1min to 365d")) {
            try config("[Idle]\nTimeout=30s\n")
        }
        #expect(throws: ConfigError(path: "/etc/studio/studio.conf", line: 2, message: "BusyCPU=lots is not a share of CPU; write e.g. 10% (of one CPU) or 0.1")) {
            try config("[Idle]\nBusyCPU=lots\n")
        }
        #expect(throws: ConfigError.self) { try config("[Idle]\nBusyCPU=0%\n") }
        #expect(throws: ConfigError.self) { try config("[Idle]\nCPUMeasure=psychic\n") }
    }

    @Test func aTemplatesTimeoutIsCheckedTheSameWay() throws {
        let file = try ConfigFile(parsing: "[Idle]\nTimeout=45min\n", path: "/t.conf")
        #expect(try Template(name: "t", file: file).idleTimeoutSeconds == 2700)
        #expect(throws: ConfigError.self) { try Template(name: "t", file: ConfigFile(parsing: "[Idle]\nTimeout=5s\n", path: "/t.conf")) }
    }

    @Test func aContainerTemplateNamesItsImageAndNetwork() throws {
        let file = try ConfigFile(parsing: "[Template]\nBackend=container\nImage=bookworm-dev\nNetwork=private\n", path: "/c.conf")
        let template = try Template(name: "c", file: file)
        #expect(template.backend == .container)
        #expect(template.image == (try ImageName("bookworm-dev")))
        #expect(template.network == .private)
        #expect(try Template(name: "h", file: ConfigFile(parsing: "[Template]\nBackend=host\n", path: "/h.conf")).network == .host)
    }

    @Test(arguments: [
        ("[Template]\nBackend=container\n", "/c.conf: Backend=container needs Image=NAME, an OS tree in /var/lib/machines (`studioctl images` lists them, `studioctl image build NAME` makes one)"),
        ("[Template]\nImage=bookworm\n", "/c.conf: Image= and Network= are for Backend=container; this template runs on the host"),
        ("[Template]\nBackend=container\nImage=../etc\n", "/c.conf:3: Image=../etc: \"../etc\" is not a valid image name: use 1 to 64 letters, digits, dots, dashes and underscores, starting with a letter or digit (e.g. bookworm-dev)"),
        ("[Template]\nBackend=container\nImage=a\nNetwork=bridge\n", "/c.conf:4: Network=bridge is not a network; use host (the default), private or none"),
        ("[Template]\nBackend=docker\n", "/c.conf:2: Backend=docker is not available; the backends are: host, container"),
    ])
    func badContainerTemplatesSayWhatToWrite(text: String, message: String) throws {
        #expect(throws: ConfigError.self) { try Template(name: "c", file: ConfigFile(parsing: text, path: "/c.conf")) }
        do {
            _ = try Template(name: "c", file: ConfigFile(parsing: text, path: "/c.conf"))
        } catch {
            #expect("\(error)" == message)
        }
    }

    @Test(arguments: ["", ".hidden", "-x", "a/b", "a..b", "x.", String(repeating: "a", count: 65), "a b"])
    func imageNamesAreMachineNames(name: String) {
        #expect(throws: WorkspaceError.self) { try ImageName(name) }
    }

    @Test func containerRangesAreFixedSlotsBelowSystemdsForeignRange() {
        #expect(ContainerRange.base(slot: 0) == 0x7000_0000)
        #expect(ContainerRange.slot(of: 0x7001_0000) == 1)
        #expect(ContainerRange.slot(of: 0x7001_0001) == nil)
        #expect(ContainerRange.slot(of: 0x6FFF_0000) == nil)
        #expect(ContainerRange.base(slot: ContainerRange.count - 1) + ContainerRange.size <= 0x7FFE_0000)
    }
}
