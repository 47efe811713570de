import ArgumentParser
import Logging
import StudioSystemd

/// `studio-idled`: stops idle workspaces, judged from activity records in the journal and from their CPU work
/// (started by studio-idled.service; see docs/architecture.md, "Idle and activity").
public struct IdledCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "studio-idled",
        abstract: "Stops idle workspaces, judged from the journal's activity records and their CPU work (started by studio-idled.service).")

    public init() {}

    public func run() async throws {
        JournalLogHandler.bootstrap(identifier: "studio-idled")
        let logger = Logger(label: "studio-idled")
        do {
            try await IdleDaemon(logger: logger).run()
        } catch {
            logger.critical("studio-idled cannot go on: \(error); it needs the systemd-journal group, the broker's socket and /run/studio-idled")
            throw ExitCode.failure
        }
    }
}
