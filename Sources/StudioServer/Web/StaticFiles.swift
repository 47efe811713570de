#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import HTTPTypes
import Hummingbird
import NIOCore
import NIOPosix
import StudioCore

/// The dashboard's files, read from disk on request (they are few and small; the page cache keeps them warm).
enum StaticFiles {
    static let types: [String: String] = [
        "html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8",
        "json": "application/json", "svg": "image/svg+xml", "png": "image/png", "ico": "image/x-icon",
    ]

    /// The file at `path`, or a 404.
    static func file(at path: String, contentType: String? = nil) async throws -> Response {
        let bytes: ByteBuffer
        do {
            bytes = try await NIOThreadPool.singleton.runIfActive {
                guard let data = FileManager.default.contents(atPath: path) else { throw HTTPError(.notFound) }
                return ByteBuffer(bytes: Array(data))
            }
        } catch {
            throw HTTPError(.notFound)
        }
        let type = contentType ?? path.split(separator: ".").last.flatMap { types[String($0)] } ?? "application/octet-stream"
        return Response(status: .ok, headers: [.contentType: type, .cacheControl: "no-cache"], body: .init(byteBuffer: bytes))
    }

    /// A file under `root` named by the request path after `prefix`; nothing outside `root`, no hidden files.
    static func serve(_ request: Request, root: String, prefix: String) async throws -> Response {
        let rest = request.uri.path.dropFirst(prefix.count)
        let parts = rest.split(separator: "/")
        guard !parts.isEmpty, parts.allSatisfy({ !$0.hasPrefix(".") && $0.allSatisfy { $0.isLetter || $0.isNumber || "._-".contains($0) } }) else {
            throw HTTPError(.notFound)
        }
        return try await file(at: root + "/" + parts.joined(separator: "/"))
    }
}
