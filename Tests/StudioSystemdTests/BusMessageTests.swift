import CSystemd
import Glibc
import Testing
@testable import StudioSystemd

/// Messages built with `BusMessage` read back as systemd would read them. The connection is one end of a
/// socketpair that nobody answers: enough for sd-bus to create messages, which are then sealed and read locally.
@Suite struct BusMessageTests {
    /// A connection whose peer never speaks, and a method call on it, sealed for reading by `fill`.
    func sealedCall(_ fill: (BusMessage) throws -> Void) throws -> (BusConnection, BusMessage, Int32) {
        var fds: [Int32] = [-1, -1]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0)
        var raw: OpaquePointer?
        try BusError.check("sd_bus_new", sd_bus_new(&raw))
        let bus = BusConnection(taking: raw!)
        try BusError.check("sd_bus_set_fd", sd_bus_set_fd(bus.bus, fds[0], fds[0]))
        try BusError.check("sd_bus_start", sd_bus_start(bus.bus))
        let message = try bus.methodCall(
            destination: "org.freedesktop.systemd1", path: "/org/freedesktop/systemd1",
            interface: "org.freedesktop.systemd1.Manager", member: "StartTransientUnit")
        try fill(message)
        try BusError.check("sd_bus_message_seal", sd_bus_message_seal(message.pointer, 1, 0))
        try BusError.check("sd_bus_message_rewind", sd_bus_message_rewind(message.pointer, 1))
        return (bus, message, fds[1])
    }

    @Test func propertyListHasTheSignatureSystemdExpects() throws {
        let properties = [
            BusProperty("Description", .string("demo")),
            BusProperty("ExecStart", .commands([BusExecCommand(path: "/bin/sleep", argv: ["sleep", "1000"])])),
            BusProperty("Environment", .strings(["A=1", "B=2"])),
            BusProperty("MemoryMax", .uint64(1 << 30)),
            BusProperty("PrivateTmp", .bool(true)),
        ]
        let (bus, message, peer) = try sealedCall { message in
            try message.append("studio-ws-a-b.service")
            try message.append("fail")
            try message.append(properties)
            try message.open("a", "(sa(sv))")
            try message.close()
        }
        defer { close(peer); withExtendedLifetime(bus) {} }
        #expect(String(cString: sd_bus_message_get_signature(message.pointer, 1)) == "ssa(sv)a(sa(sv))")

        #expect(try message.readString() == "studio-ws-a-b.service")
        #expect(try message.readString() == "fail")
        var read: [String: BusValue] = [:]
        try message.enter("a", "(sv)")
        while try message.enter("r", "sv") {
            let name = try message.readString()
            if name == "ExecStart" {
                // a(sasb) is not something readVariant returns; read it by hand.
                try message.enter("v", "a(sasb)")
                try message.enter("a", "(sasb)")
                #expect(try message.enter("r", "sasb"))
                #expect(try message.readString() == "/bin/sleep")
                #expect(try message.readStrings() == ["sleep", "1000"])
                #expect(try message.readBool() == false)
                try message.exit()
                #expect(try message.enter("r", "sasb") == false)
                try message.exit()
                try message.exit()
            } else {
                read[name] = try message.readVariant()
            }
            try message.exit()
        }
        try message.exit()
        #expect(read == [
            "Description": .string("demo"), "Environment": .strings(["A=1", "B=2"]),
            "MemoryMax": .uint64(1 << 30), "PrivateTmp": .bool(true),
        ])
    }

    @Test func propertyDictionaryKeepsKnownTypesAndSkipsOthers() throws {
        let (bus, message, peer) = try sealedCall { message in
            try message.open("a", "{sv}")
            func entry(_ name: String, _ signature: String, _ value: () throws -> Void) throws {
                try message.open("e", "sv")
                try message.append(name)
                try message.open("v", signature)
                try value()
                try message.close()
                try message.close()
            }
            try entry("ActiveState", "s") { try message.append("active") }
            try entry("MainPID", "u") { try message.append(UInt32(42)) }
            try entry("MemoryCurrent", "t") { try message.append(UInt64.max) }
            try entry("ExecMainStatus", "i") { try message.append(Int32(-3)) }
            try entry("Job", "(uo)") {  // not a BusValue: skipped
                try message.open("r", "uo")
                try message.append(UInt32(7))
                try message.append("/org/freedesktop/systemd1/job/7", asObjectPath: true)
                try message.close()
            }
            try entry("Following", "o") { try message.append("/", asObjectPath: true) }
            try message.close()
            try message.append(["Invalidated"])
        }
        defer { close(peer); withExtendedLifetime(bus) {} }
        let dictionary = try message.readPropertyDictionary()
        #expect(dictionary == [
            "ActiveState": .string("active"), "MainPID": .uint32(42), "MemoryCurrent": .uint64(.max),
            "ExecMainStatus": .int32(-3), "Following": .string("/"),
        ])
        #expect(dictionary["MemoryCurrent"]?.finiteUInt64 == nil)
        #expect(try message.readStrings() == ["Invalidated"], "the reader is left just after the dictionary")
    }
}
