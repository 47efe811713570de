import Foundation
import StudioCore
import Testing
@testable import StudioCLI

/// Terminals, against a real `studio-sandbox agent` process.
@Suite struct AgentTerminalTests {
    @Test func aShellRunsAndKeepsRunningAfterDetachAndReplaysOnReattach() throws {
        let agent = try AgentProcess()
        defer { agent.stop() }

        let first = try agent.connect()
        let attached = try first.open(.attach(cols: 80, rows: 24))
        #expect(attached.terminal?.name == "main")
        #expect(attached.terminal?.created == true)
        try first.send(.input(Array("echo hel''lo $STUDIO_WORKSPACE $STUDIO_TEST $TERM; pwd\n".utf8)))
        let seen = try first.output { $0.contains("hello demo yes xterm-256color") && $0.contains("/project") }
        #expect(seen.exit == nil)
        let pid = try #require(attached.terminal?.pid)
        // Detach: close the connection. The shell stays.
        _ = consume first
        try waitUntil("the terminal has no client") { try agent.ask(AgentRequest(op: "terminals")).terminals?.first?.clients == 0 }
        let listed = try agent.ask(AgentRequest(op: "terminals")).terminals ?? []
        #expect(listed.map(\.name) == ["main"])
        #expect(listed.first?.pid == pid)
        #expect(kill(pid, 0) == 0, "the shell must outlive its client")

        let second = try agent.connect()
        let again = try second.open(.attach())
        #expect(again.terminal?.created == false)
        #expect(again.terminal?.pid == pid)
        let replay = try second.output { $0.contains("hello demo yes xterm-256color") }
        #expect(replay.text.contains("hello demo yes xterm-256color"), "reattach replays the scrollback")

        // Exiting the shell ends the terminal; the client gets the exit code.
        try second.send(.input(Array("exit 3\n".utf8)))
        let end = try second.output()
        #expect(end.exit == 3)
        try waitUntil("the terminal is gone") { try agent.ask(AgentRequest(op: "terminals")).terminals?.isEmpty == true }
    }

    @Test func resizeIsSeenInsideAndTwoClientsShareATerminal() throws {
        let agent = try AgentProcess()
        defer { agent.stop() }
        let one = try agent.connect()
        try one.open(.attach("shared", cols: 100, rows: 30))
        try one.send(.input(Array("stty size\n".utf8)))
        _ = try one.output { $0.contains("30 100") }

        let two = try agent.connect()
        try two.open(.attach("shared"))
        try two.send(.resize(cols: 132, rows: 43))
        try two.send(.input(Array("stty size; echo from-two\n".utf8)))
        let onTwo = try two.output { $0.contains("43 132") && $0.contains("from-two\r\n") }
        #expect(onTwo.text.contains("43 132"))
        let onOne = try one.output { $0.contains("43 132") }
        #expect(onOne.text.contains("43 132"), "every client sees the output")
    }

    @Test func namedTerminalsRunTheirCommandAndEndWithIt() throws {
        let agent = try AgentProcess(terminals: [TerminalSpec(name: "build", command: "echo building in $(pwd); exit 4")])
        defer { agent.stop() }
        let client = try agent.connect()
        let answer = try client.open(.attach("build"))
        #expect(answer.terminal?.command == "echo building in $(pwd); exit 4")
        let run = try client.output()
        #expect(run.text.contains("building in \(agent.spec.projectDirectory)"))
        #expect(run.exit == 4)
    }

    @Test func execWithATTYGetsATerminal() throws {
        let agent = try AgentProcess()
        defer { agent.stop() }
        let client = try agent.connect()
        try client.open(.exec(["sh", "-c", "test -t 0 && stty size && echo $TERM; exit 5"], tty: true, cols: 90, rows: 20))
        let run = try client.output()
        #expect(run.text.contains("20 90"))
        #expect(run.text.contains("xterm-256color"))
        #expect(run.exit == 5)
    }
}
