import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOPosix
import StudioNet
import Testing
@testable import StudioServer

/// The idle exit, over a real unix socket: the server serves while a connection is open and returns from `run()`
/// once it has been quiet for the idle period.
@Suite struct ActivatedServerTests {
    func makeServer(socket: String, idle: Duration?, ready: @escaping @Sendable () -> Void) -> ActivatedServer<HTTP1Channel> {
        let logger = Logger(label: "test")
        let router = Routes.router(uptime: { 1 })
        return ActivatedServer(
            listeners: [.unix(path: socket)],
            child: HTTP1Channel(responder: HTTP1Channel.studioResponder(router.buildResponder(), logger: logger)),
            idleExit: idle, logger: logger, onReady: ready)
    }

    /// Sends one request over a fresh connection and returns the raw response.
    func get(_ socket: String, _ path: String) throws -> String {
        let fd = Foundation.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(socket.utf8)) }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno)!) }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        var response = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            response += buffer[..<count]
        }
        return String(decoding: response, as: UTF8.self)
    }

    @Test func servesAndThenExitsWhenIdle() async throws {
        let socket = FileManager.default.temporaryDirectory.appendingPathComponent("studio-test-\(UUID().uuidString.prefix(8)).sock").path
        let (readyStream, readyContinuation) = AsyncStream<Void>.makeStream()
        let server = makeServer(socket: socket, idle: .milliseconds(600), ready: { readyContinuation.yield() })
        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            for await _ in readyStream { break }
            let response = try get(socket, "/healthz")
            #expect(response.hasPrefix("HTTP/1.1 200"))
            #expect(response.contains("\"version\""))
            // The server must come back from run() by itself; the test waits at most 30 s for that.
            group.addTask {
                try await Task.sleep(for: .seconds(30))
                throw CancellationError()
            }
            try await group.next()
            group.cancelAll()
        }
        #expect(ContinuousClock.now - started >= .milliseconds(600), "it must not exit before the idle period")
        #expect(!FileManager.default.fileExists(atPath: socket), "a socket it bound itself is removed")
    }

    @Test func anOpenConnectionKeepsItRunning() async throws {
        let tracker = ConnectionTracker()
        tracker.opened()
        #expect(tracker.quietFor() == nil)
        tracker.closed()
        #expect(tracker.quietFor() != nil)
        #expect(tracker.openConnections == 0)
    }
}
