import Testing
@testable import StudioJournal

/// journald's native protocol as the agent speaks it without libsystemd.
@Suite struct JournalWireTests {
    @Test func plainFieldsAreNameEqualsValueLines() {
        let bytes = JournalLogHandler.encode([("MESSAGE", "hello"), ("STUDIO_EVENT", "activity")])
        #expect(String(decoding: bytes, as: UTF8.self) == "MESSAGE=hello\nSTUDIO_EVENT=activity\n")
    }

    @Test func aValueWithANewlineIsSentWithItsLength() {
        let bytes = JournalLogHandler.encode([("MESSAGE", "two\nlines")])
        #expect(bytes == Array("MESSAGE\n".utf8) + [9, 0, 0, 0, 0, 0, 0, 0] + Array("two\nlines\n".utf8))
    }

    @Test func anEntryIsBounded() {
        let bytes = JournalLogHandler.encode([("MESSAGE", String(repeating: "x", count: 500_000)), ("NEXT", "y")])
        #expect(bytes.count <= JournalLogHandler.maxEntryBytes)
        #expect(bytes.starts(with: Array("MESSAGE=xxx".utf8)))
    }
}
