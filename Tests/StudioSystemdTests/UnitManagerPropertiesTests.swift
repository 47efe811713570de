import StudioCore
import Testing
@testable import StudioSystemd

/// What `SystemdUnitManager` sends to systemd and how it reads the answers; no systemd needed.
/// (The calls themselves are checked against real systemd in a booted machine: see docs/systemd-dbus.md.)
@Suite struct UnitManagerPropertiesTests {
    let manager = SystemdUnitManager(startTimeout: .seconds(60), stopTimeout: .milliseconds(15_500))

    func spec(notify: Bool = true, limits: ResourceLimits = ResourceLimits()) -> TransientServiceSpec {
        TransientServiceSpec(
            name: "studio-ws-alice-demo.service", description: "Studio workspace alice/demo",
            slice: "studio-alice.slice", user: "alice", workingDirectory: "/home/alice/demo",
            argv: ["/usr/bin/studio-sandbox", "agent", "--workspace", "demo"],
            environment: ["STUDIO_WS": "demo", "LANG": "C.UTF-8"], limits: limits,
            booleanProperties: ["ProtectSystem": false, "NoNewPrivileges": true, "PrivateTmp": true],
            notifyReady: notify)
    }

    @Test func transientServiceCarriesEverythingInAFixedOrder() {
        let properties = manager.transientProperties(
            for: spec(limits: ResourceLimits(memoryMaxBytes: 2 << 30, cpus: 1.5, tasksMax: 512)))
        #expect(properties == [
            BusProperty("Description", .string("Studio workspace alice/demo")),
            BusProperty("Slice", .string("studio-alice.slice")),
            BusProperty("User", .string("alice")),
            BusProperty("WorkingDirectory", .string("/home/alice/demo")),
            BusProperty("ExecStart", .commands([
                BusExecCommand(
                    path: "/usr/bin/studio-sandbox", argv: ["/usr/bin/studio-sandbox", "agent", "--workspace", "demo"],
                    ignoreFailure: false)
            ])),
            BusProperty("Type", .string("notify")),
            BusProperty("NotifyAccess", .string("main")),
            BusProperty("CollectMode", .string("inactive-or-failed")),
            BusProperty("TimeoutStartUSec", .uint64(60_000_000)),
            BusProperty("TimeoutStopUSec", .uint64(15_500_000)),
            BusProperty("Environment", .strings(["LANG=C.UTF-8", "STUDIO_WS=demo"])),
            BusProperty("MemoryMax", .uint64(2 << 30)),
            BusProperty("CPUQuotaPerSecUSec", .uint64(1_500_000)),
            BusProperty("TasksMax", .uint64(512)),
            BusProperty("NoNewPrivileges", .bool(true)),
            BusProperty("PrivateTmp", .bool(true)),
            BusProperty("ProtectSystem", .bool(false)),
        ])
    }

    @Test func execTypeWhenTheProgramDoesNotNotify() {
        let properties = manager.transientProperties(for: spec(notify: false))
        #expect(properties.first { $0.name == "Type" }?.value == .string("exec"))
    }

    @Test func onlyTheLimitsThatAreSetAreSent() {
        #expect(SystemdUnitManager.limitProperties(ResourceLimits()).isEmpty)
        #expect(SystemdUnitManager.limitProperties(ResourceLimits(cpuWeight: 50, ioWeight: 200)) == [
            BusProperty("CPUWeight", .uint64(50)), BusProperty("IOWeight", .uint64(200)),
        ])
        let all = SystemdUnitManager.limitProperties(
            ResourceLimits(memoryMaxBytes: 1, memoryHighBytes: 2, cpus: 0.25, cpuWeight: 3, tasksMax: 4, ioWeight: 5))
        #expect(all.map(\.name) == ["MemoryMax", "MemoryHigh", "CPUQuotaPerSecUSec", "CPUWeight", "TasksMax", "IOWeight"])
        #expect(all.allSatisfy { $0.value.signature == "t" })
        #expect(all[2].value == .uint64(250_000))
    }

    @Test func signaturesAreThoseSystemdExpects() {
        #expect(BusValue.commands([]).signature == "a(sasb)")
        #expect(BusValue.strings([]).signature == "as")
        #expect(BusValue.bool(true).signature == "b")
        #expect(BusValue.uint64(1).signature == "t")
        #expect(BusValue.uint32(1).signature == "u")
    }

    @Test func statusMapsInfinityAndUnknownToNil() {
        let unit: [String: BusValue] = [
            "ActiveState": .string("active"), "SubState": .string("running"), "ActiveEnterTimestamp": .uint64(0),
        ]
        let service: [String: BusValue] = [
            "Result": .string("success"), "MainPID": .uint32(4242),
            "MemoryCurrent": .uint64(.max), "CPUUsageNSec": .uint64(.max), "TasksCurrent": .uint64(.max),
            "MemoryMax": .uint64(.max), "MemoryHigh": .uint64(.max), "CPUQuotaPerSecUSec": .uint64(.max),
            "CPUWeight": .uint64(.max), "TasksMax": .uint64(.max), "IOWeight": .uint64(.max),
        ]
        let status = SystemdUnitManager.unitStatus(name: "a.service", unit: unit, typeSpecific: service)
        #expect(status == UnitStatus(name: "a.service", activeState: "active", subState: "running", mainPID: 4242))
    }

    @Test func statusReadsUsageAndLimits() {
        let unit: [String: BusValue] = [
            "ActiveState": .string("failed"), "SubState": .string("failed"),
            "ActiveEnterTimestamp": .uint64(1_700_000_000_000_000),
        ]
        let service: [String: BusValue] = [
            "Result": .string("oom-kill"), "MainPID": .uint32(0),
            "MemoryCurrent": .uint64(123_456), "CPUUsageNSec": .uint64(9_000), "TasksCurrent": .uint64(7),
            "MemoryMax": .uint64(1 << 30), "MemoryHigh": .uint64(1 << 29), "CPUQuotaPerSecUSec": .uint64(2_500_000),
            "CPUWeight": .uint64(100), "TasksMax": .uint64(256), "IOWeight": .uint64(10),
        ]
        let status = SystemdUnitManager.unitStatus(name: "b.service", unit: unit, typeSpecific: service)
        #expect(status.result == "oom-kill")
        #expect(status.memoryCurrentBytes == 123_456)
        #expect(status.cpuUsageNanoseconds == 9_000)
        #expect(status.tasksCurrent == 7)
        #expect(status.activeEnterRealtimeMicroseconds == 1_700_000_000_000_000)
        #expect(status.limits == ResourceLimits(
            memoryMaxBytes: 1 << 30, memoryHighBytes: 1 << 29, cpus: 2.5, cpuWeight: 100, tasksMax: 256, ioWeight: 10))
        #expect(!status.isRunning)
    }

    @Test func typeSpecificInterfaceFollowsTheSuffix() {
        #expect(SystemdUnitManager.typeInterface(of: "studio-ws-a-b.service") == "org.freedesktop.systemd1.Service")
        #expect(SystemdUnitManager.typeInterface(of: "studio.slice") == "org.freedesktop.systemd1.Slice")
        #expect(SystemdUnitManager.typeInterface(of: "proc-sys.automount") == "org.freedesktop.systemd1.Automount")
        #expect(SystemdUnitManager.typeInterface(of: "noSuffix") == nil)
        #expect(SystemdUnitManager.typeInterface(of: "trailing.") == nil)
    }

    @Test func failureMessagesSayWhatHappened() {
        var observed = ObservedUnitState()
        observed.merge(["Result": .string("exit-code"), "ExecMainCode": .int32(1), "ExecMainStatus": .int32(1)])
        observed.merge(["ActiveState": .string("failed"), "SubState": .string("failed")])
        #expect(observed.isSettled)
        #expect(
            SystemdUnitManager.startFailureMessage(unit: "x.service", jobResult: "failed", observed: observed)
                == "x.service failed to start: result 'exit-code', the main process exited with status 1; "
                + "see journalctl -u x.service")

        var noExec = ObservedUnitState()
        noExec.merge(["Result": .string("exit-code"), "ExecMainCode": .int32(1), "ExecMainStatus": .int32(203)])
        #expect(noExec.mainProcessOutcome == "could not execute the program (203/EXEC)")

        var killed = ObservedUnitState()
        killed.merge(["ExecMainCode": .int32(2), "ExecMainStatus": .int32(9)])
        #expect(killed.mainProcessOutcome == "was killed by signal 9")

        #expect(
            SystemdUnitManager.startFailureMessage(unit: "y.service", jobResult: "dependency", observed: ObservedUnitState())
                == "y.service failed to start: a unit it needs (its slice?) failed; see journalctl -u y.service")
        #expect(
            SystemdUnitManager.startFailureMessage(unit: "z.service", jobResult: "failed", observed: ObservedUnitState())
                == "z.service failed to start: job result 'failed'; see journalctl -u z.service")
    }

    @Test func durationsBecomeWholeMicrosecondsRoundedUp() {
        #expect(BusConnection.microseconds(.seconds(90)) == 90_000_000)
        #expect(BusConnection.microseconds(.nanoseconds(1)) == 1)
        #expect(BusConnection.microseconds(.milliseconds(1_500)) == 1_500_000)
        #expect(BusConnection.microseconds(.zero) == 0)
        #expect(BusConnection.microseconds(.seconds(-1)) == 0)
    }

    @Test func unitPathsAreEscapedAsSystemdDoes() throws {
        #expect(
            try BusConnection.unitPath(for: "studio-ws-alice-demo.service")
                == "/org/freedesktop/systemd1/unit/studio_2dws_2dalice_2ddemo_2eservice")
    }
}
