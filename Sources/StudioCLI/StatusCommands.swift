#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import StudioClient
import StudioCore

/// What `status` and `version` learn from the two daemons.
struct DaemonReport: Codable {
    struct Studiod: Codable {
        var reachable: Bool
        var socket: String
        var version: String?
        var uptimeSeconds: Double?
        var configError: String?
        var error: String?
    }

    struct Broker: Codable {
        var reachable: Bool
        var socket: String
        var version: String?
        var protocolVersion: Int?
        var error: String?
    }

    var studioctl: String = StudioVersion.string
    var studiod: Studiod
    var broker: Broker

    var allReachable: Bool { studiod.reachable && broker.reachable }

    static func gather(_ sockets: SocketOptions) async -> DaemonReport {
        var studiod = Studiod(reachable: false, socket: sockets.studiodSocket)
        do {
            let response = try HTTPOverUnix(socketPath: sockets.studiodSocket).get("/healthz")
            guard response.status == 200 else { throw HTTPOverUnix.ProtocolError(description: "studiod answered HTTP \(response.status)") }
            let health = try JSONDecoder().decode(Health.self, from: Data(response.body))
            studiod.reachable = true
            studiod.version = health.version
            studiod.uptimeSeconds = health.uptimeSeconds
            studiod.configError = health.configError
        } catch {
            studiod.error = "cannot reach studiod at \(sockets.studiodSocket) (\(reason(error))). Check `systemctl status studiod.socket`; the package enables it on install."
        }
        var broker = Broker(reachable: false, socket: sockets.brokerSocket)
        do {
            let info = try await BrokerConnection(socketPath: sockets.brokerSocket).call(.version, NoParams(), as: VersionInfo.self)
            broker.reachable = true
            broker.version = info.version
            broker.protocolVersion = info.protocolVersion
        } catch {
            broker.error = (error as? RequestError)?.message ?? "the broker at \(sockets.brokerSocket) answered something this studioctl does not understand (\(error))"
        }
        return DaemonReport(studiod: studiod, broker: broker)
    }

    static func reason(_ error: any Error) -> String {
        if let failure = error as? UnixSocket.Failure { return String(cString: strerror(failure.errno)) }
        return "\(error)"
    }

    /// Prints errors for unreachable daemons on stderr and fails with EX_UNAVAILABLE.
    func exitIfUnreachable() throws {
        for error in [studiod.error, broker.error].compactMap({ $0 }) {
            printError("studioctl: \(error)")
        }
        if !allReachable { throw ExitCodes.unavailable }
    }
}

/// `studioctl status` without a workspace: whether studiod and the broker answer, and their versions.
enum DaemonStatus {
    static func run(sockets: SocketOptions, json: Bool) async throws {
        let report = await DaemonReport.gather(sockets)
        if json {
            print(try JSONOutput.encode(report))
        } else {
            if report.studiod.reachable {
                print("studiod   \(report.studiod.version ?? "?")  up \(formatUptime(report.studiod.uptimeSeconds ?? 0))  (\(report.studiod.socket))")
            } else {
                print("studiod   not reachable")
            }
            if let problem = report.studiod.configError {
                print("          configuration error (running with defaults): \(problem)")
            }
            if report.broker.reachable {
                print("broker    \(report.broker.version ?? "?") (protocol \(report.broker.protocolVersion ?? 0))")
            } else {
                print("broker    not reachable")
            }
        }
        try report.exitIfUnreachable()
    }
}

struct Version: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the versions of studioctl, studiod and the broker.")

    @OptionGroup var sockets: SocketOptions

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func run() async throws {
        let report = await DaemonReport.gather(sockets)
        if json {
            print(try JSONOutput.encode(report))
        } else {
            print("studioctl \(StudioVersion.string)")
            print("studiod   \(report.studiod.version ?? "not reachable")")
            print("broker    \(report.broker.version ?? "not reachable")")
        }
        try report.exitIfUnreachable()
    }
}

/// `3s`, `4m 10s`, `2h 5m`, `3d 4h`: an uptime in its two largest units.
func formatUptime(_ seconds: Double) -> String {
    let total = Int(seconds)
    let (days, hours, minutes, secs) = (total / 86400, total / 3600 % 24, total / 60 % 60, total % 60)
    if days > 0 { return "\(days)d \(hours)h" }
    if hours > 0 { return "\(hours)h \(minutes)m" }
    if minutes > 0 { return "\(minutes)m \(secs)s" }
    return "\(secs)s"
}

/// JSON for `--json`: sorted keys, pretty-printed, so output is stable for scripts and people.
enum JSONOutput {
    static func encode<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// One compact line, for streams (`logs --json`).
    static func line<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}

/// Writes one line to stderr.
public func printError(_ text: String) {
    let bytes = Array((text + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
}
