import Foundation
import Testing
@testable import StudioSystemd

/// How studio-idled reads a unit's CPU time: the cgroup v2 counter where there is one, else the unit's processes.
@Suite struct CPUUsageTests {
    let group = "/studio.slice/studio-alice.slice/studio-ws-alice-web.service"

    func tree() throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("cpu-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        return root
    }

    func write(_ text: String, _ path: URL) throws {
        try FileManager.default.createDirectory(at: path.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: path, atomically: true, encoding: .utf8)
    }

    @Test func theUnifiedCounterWinsInAHybridLayout() throws {
        let root = try tree()
        defer { try? FileManager.default.removeItem(at: root) }
        try write("usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n", root.appendingPathComponent("cgroup/unified\(group)/cpu.stat"))
        try write("1\n", root.appendingPathComponent("cgroup/systemd\(group)/cgroup.procs"))
        let usage = try #require(CgroupCounters.cpuUsage(controlGroup: group, root: root.path + "/cgroup", proc: root.path + "/proc"))
        #expect(usage.nanoseconds == 2_500_000_000)
        #expect(usage.measure == .cgroup)
        let processes = try #require(CgroupCounters.cpuUsage(controlGroup: group, processesOnly: true, root: root.path + "/cgroup", proc: root.path + "/proc"))
        #expect(processes.measure == .processes, "[Idle] CPUMeasure=processes")
    }

    @Test func withoutCgroupV2TheProcessesAreSummed() throws {
        let root = try tree()
        defer { try? FileManager.default.removeItem(at: root) }
        try write("100\n200\n300\n", root.appendingPathComponent("cgroup/systemd\(group)/cgroup.procs"))
        // utime stime cutime cstime = fields 14-17; a command name with spaces and a parenthesis.
        try write("100 (make (x) y) R 1 100 100 0 -1 4194304 10 0 0 0 150 50 20 30 20 0 1 0\n", root.appendingPathComponent("proc/100/stat"))
        try write("200 (cc1) R 100 100 100 0 -1 4194304 10 0 0 0 300 100 0 0 20 0 1 0\n", root.appendingPathComponent("proc/200/stat"))
        // 300 exited between reading cgroup.procs and its stat: counted as nothing.
        let usage = try #require(CgroupCounters.cpuUsage(controlGroup: group, root: root.path + "/cgroup", proc: root.path + "/proc"))
        let ticks = UInt64(sysconf(Int32(_SC_CLK_TCK)))
        #expect(usage.nanoseconds == (250 + 400) * (1_000_000_000 / ticks))
        #expect(usage.measure == .processes)
    }

    @Test func aGroupThatIsNotThereOrEscapesIsNothing() throws {
        let root = try tree()
        defer { try? FileManager.default.removeItem(at: root) }
        #expect(CgroupCounters.cpuUsage(controlGroup: group, root: root.path) == nil)
        #expect(CgroupCounters.cpuUsage(controlGroup: "/../etc", root: root.path) == nil)
        #expect(CgroupCounters.cpuUsage(controlGroup: "relative", root: root.path) == nil)
    }
}
