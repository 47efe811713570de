#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import HTTPTypes
import Hummingbird
import WSCore
import Logging
import NIOCore
import NIOWebSocket
import StudioClient
import StudioCore

/// Browser terminals: `GET /api/v1/workspaces/{name}/terminals/{terminal}` upgraded to a WebSocket, relayed to the
/// agent's terminal through the broker for the request's login. Binary frames are terminal bytes both ways; text
/// frames are JSON control messages (docs/web-api.md).
struct TerminalSocket {
    let settings: WebSettings

    /// What an upgrade asks for, once checked.
    struct Target {
        var broker: BrokerConnection
        var name: String
        var terminal: String
        var cols: Int?
        var rows: Int?
        /// `root=1`: a root terminal inside a container workspace (the agent of a host workspace refuses it).
        var root = false
    }

    /// Parses and checks an upgrade request: a terminal path, a login, the dashboard's own origin. Throws the error
    /// the plain HTTP answer should carry.
    func target(path: String, query: [String: String], headers: HTTPFields, remote: SocketAddress?) throws -> Target? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        // "", "api", "v1", "workspaces", name, "terminals", terminal
        guard parts.count == 7, parts[1] == "api", parts[2] == "v1", parts[3] == "workspaces", parts[5] == "terminals" else { return nil }
        let name = String(parts[4]), terminal = String(parts[6])
        guard (try? WorkspaceName(name)) != nil else { throw RequestError.notFound("no such workspace") }
        guard AgentProtocol.isValidTerminalName(terminal) else {
            throw RequestError.badRequest("\"\(terminal.prefix(64))\" is not a terminal name: use 1 to 64 of A-Z a-z 0-9 . _ -")
        }
        guard let token = AppProxy.cookie(WebSettings.sessionCookie, in: headers) else { throw RequestError.unauthorized("not logged in; log in on the dashboard first") }
        let cols = try query["cols"].map { try Self.size($0, "cols") }
        let rows = try query["rows"].map { try Self.size($0, "rows") }
        let root: Bool
        switch query["root"] {
        case nil, "0": root = false
        case "1": root = true
        default: throw RequestError.badRequest("root must be 0 or 1")
        }
        let address = WebSettings.remoteAddress(peer: remote, forwardedFor: headers[.xForwardedFor])
        return Target(
            broker: BrokerConnection(socketPath: settings.brokerSocket, grant: token, remote: address), name: name, terminal: terminal,
            cols: cols, rows: rows, root: root)
    }

    /// ``target(path:query:headers:remote:)`` for a workspace that runs: the login is checked by the broker, and a
    /// stopped workspace is a conflict.
    func runningTarget(path: String, query: [String: String], headers: HTTPFields, remote: SocketAddress?) async throws -> Target? {
        guard let target = try target(path: path, query: query, headers: headers, remote: remote) else { return nil }
        try await Self.requireRunning(target)
        return target
    }

    /// Asks the broker, with the target's login, whether its workspace runs: a conflict when not.
    @discardableResult
    static func requireRunning(_ target: Target) async throws -> WorkspaceInfo {
        let info = try await target.broker.call(.status, WorkspaceTarget(name: target.name), as: WorkspaceInfo.self)
        guard info.state == "running" else {
            throw RequestError.conflict("workspace \"\(target.name)\" is \(info.state); start it first")
        }
        return info
    }

    static func size(_ text: String, _ what: String) throws -> Int {
        guard let value = Int(text), (1...1000).contains(value) else {
            throw RequestError.badRequest("\(what) must be a number from 1 to 1000")
        }
        return value
    }

    /// Relays one terminal until either side ends.
    static func relay(_ target: Target, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, logger: Logger) async {
        do {
            try await target.broker.connect(ConnectParams(name: target.name, request: .attach(target.terminal, cols: target.cols, rows: target.rows, root: target.root))) { stream in
                let agent = stream.outbound
                let agentChannel = stream.channel
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        // Browser to terminal: bytes as input, resize messages as resize frames.
                        defer { agentChannel.close(promise: nil) }
                        for try await message in inbound.messages(maxSize: 1 << 20) {
                            switch message {
                            case .binary(let bytes):
                                try await agent.write(ByteBuffer(bytes: AgentFrame.input(Array(bytes.readableBytesView)).encoded))
                            case .text(let text):
                                if let control = try? JSONDecoder().decode(Control.self, from: Data(text.utf8)), control.type == "resize",
                                   let cols = control.cols, let rows = control.rows, (1...1000).contains(cols), (1...1000).contains(rows) {
                                    try await agent.write(ByteBuffer(bytes: AgentFrame.resize(cols: UInt16(cols), rows: UInt16(rows)).encoded))
                                }
                            }
                        }
                    }
                    // Terminal to browser.
                    while let frame = try await stream.nextFrame() {
                        switch frame {
                        case .output(let bytes), .stderr(let bytes):
                            try await outbound.write(.binary(ByteBuffer(bytes: bytes)))
                        case .exit(let code):
                            try await outbound.write(.text(#"{"type":"exit","code":\#(code)}"#))
                            try? await outbound.close(.normalClosure, reason: "the terminal's program ended")
                            group.cancelAll()
                            return
                        case .error(let text):
                            try await outbound.write(.text(Self.errorMessage(text)))
                        default:
                            break
                        }
                    }
                    group.cancelAll()
                }
            }
        } catch let error as RequestError {
            try? await outbound.write(.text(Self.errorMessage(error.message)))
            try? await outbound.close(.unexpectedServerError, reason: nil)
        } catch {
            logger.debug("terminal relay ended", metadata: ["error": "\(error)"])
        }
    }

    struct Control: Decodable {
        var type: String
        var cols: Int?
        var rows: Int?
    }

    static func errorMessage(_ text: String) -> String {
        struct Message: Encodable { var type = "error"; var message: String }
        return (try? String(decoding: JSONEncoder().encode(Message(message: text)), as: UTF8.self)) ?? #"{"type":"error","message":"error"}"#
    }
}
