import Glibc
import Logging
import Testing
@testable import StudioSystemd

@Suite struct JournalFieldsTests {
    @Test func metadataBecomesUpperCaseFields() {
        #expect(JournalFields.fieldName("workspace") == "WORKSPACE")
        #expect(JournalFields.fieldName("studio.user") == "STUDIO_USER")
        #expect(JournalFields.fieldName("idle-seconds") == "IDLE_SECONDS")
        #expect(JournalFields.fieldName("_SYSTEMD_UNIT") == "SYSTEMD_UNIT")  // trusted fields cannot be forged
        #expect(JournalFields.fieldName("1st") == "F1ST")
        #expect(JournalFields.fieldName("message") == "META_MESSAGE")  // cannot replace the entry's message
        #expect(JournalFields.fieldName("message_id") == "MESSAGE_ID")  // audit entries set their catalog id
    }

    @Test func entryCarriesMessagePriorityIdentifierAndMetadata() {
        let fields = JournalFields.make(
            identifier: "studiod", label: "studiod", level: .warning, message: "hello\nworld",
            metadata: ["listeners": "2", "tags": ["a", "b"]], error: nil, file: "F.swift", function: "f()", line: 7)
        let dictionary = Dictionary(fields, uniquingKeysWith: { first, _ in first })
        #expect(dictionary["MESSAGE"] == "hello\nworld")
        #expect(dictionary["PRIORITY"] == "4")
        #expect(dictionary["SYSLOG_IDENTIFIER"] == "studiod")
        #expect(dictionary["LISTENERS"] == "2")
        #expect(dictionary["TAGS"] == #"["a", "b"]"#)
        #expect(dictionary["CODE_LINE"] == "7")
        #expect(fields.count == dictionary.count, "no field appears twice")
    }

    @Test func prioritiesFollowSyslog() {
        #expect(JournalFields.priority(.critical) == 2)
        #expect(JournalFields.priority(.error) == 3)
        #expect(JournalFields.priority(.info) == 6)
        #expect(JournalFields.priority(.debug) == 7)
    }
}

@Suite struct SocketActivationTests {
    @Test func noSocketsWhenNotActivated() throws {
        unsetenv("LISTEN_FDS")
        unsetenv("LISTEN_PID")
        #expect(try SocketActivation.listenSockets().isEmpty)
    }
}
