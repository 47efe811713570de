import Foundation
import StudioSystemd
import Testing

@Suite struct CgroupCountersTests {
    @Test func readsOOMKillsFromMemoryEvents() throws {
        let root = NSTemporaryDirectory() + "cgroup-\(UUID().uuidString.prefix(8))"
        let group = "/studio.slice/studio-ws-alice-p.service"
        try FileManager.default.createDirectory(atPath: root + group, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        try "low 0\nhigh 12\nmax 3\noom 2\noom_kill 2\noom_group_kill 0\n".write(toFile: root + group + "/memory.events", atomically: true, encoding: .utf8)
        #expect(CgroupCounters.oomKills(controlGroup: group, root: root) == 2)
        #expect(CgroupCounters.oomKills(controlGroup: "/elsewhere", root: root) == nil, "no file: cgroup v1")
        #expect(CgroupCounters.oomKills(controlGroup: "relative", root: root) == nil)
    }
}
