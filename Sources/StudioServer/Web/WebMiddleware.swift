#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import HTTPTypes
import Hummingbird
import StudioCore

/// Every answer gets the security headers; every error becomes `{"error": {"code", "message"}}` with the status
/// its code maps to; state-changing calls and WebSocket upgrades from another origin are refused (CSRF).
struct WebMiddleware: RouterMiddleware {
    typealias Context = StudioRequestContext
    let settings: WebSettings

    static let contentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // The apps origin is the app proxy and nothing else: no dashboard, no API, and the app's own headers.
        if settings.onAppsOrigin(context) {
            do {
                return try await AppProxy(settings: settings).handle(request, context: context)
            } catch let error as RequestError {
                return AppProxy.page(.init(code: error.code.httpStatus), "The app cannot be reached", error.message)
            } catch {
                return AppProxy.page(.badGateway, "The app cannot be reached", "\(error)")
            }
        }
        var response: Response
        do {
            // The unix socket is any local user's: it serves nothing that needs a login.
            if context.viaUnixSocket, request.uri.path != "/healthz" {
                throw RequestError.notFound("studiod's local socket answers only /healthz; the dashboard and API are on http://127.0.0.1:7080")
            }
            try checkOrigin(request, context: context)
            response = try await next(request, context)
        } catch {
            response = Self.errorResponse(error, path: request.uri.path)
        }
        response.headers[.contentSecurityPolicy] = Self.contentSecurityPolicy
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[.referrerPolicy] = "same-origin"
        response.headers[.xFrameOptions] = "DENY"
        if settings.scheme(of: request, context: context) == "https" {
            response.headers[.strictTransportSecurity] = "max-age=31536000"
        }
        if request.uri.path.hasPrefix("/api/") { response.headers[.cacheControl] = "no-store" }
        return response
    }

    /// Refuses a state-changing request, or a WebSocket upgrade, whose `Origin` is not the dashboard's own.
    func checkOrigin(_ request: Request, context: Context) throws {
        let changesState = ![.get, .head, .options].contains(request.method)
        let upgrade = request.headers[.upgrade]?.lowercased() == "websocket"
        guard changesState || upgrade else { return }
        guard let sent = request.headers[.origin] else {
            throw RequestError.forbidden("this request has no Origin header; Studio accepts changes only from its own dashboard")
        }
        guard let expected = settings.dashboardOrigin(of: request, context: context), WebOrigin(sent) == expected else {
            throw RequestError.forbidden("requests from \(sent.prefix(100)) are refused; Studio accepts changes only from its own dashboard (set [Web] PublicURL= if it is served under another address)")
        }
    }

    /// The JSON error answer for anything thrown.
    static func errorResponse(_ error: any Error, path: String) -> Response {
        let failure: RequestError
        switch error {
        case let error as RequestError:
            failure = error
        case let error as HTTPError:
            switch error.status {
            case .notFound: failure = .notFound("nothing at \(path.prefix(200)); the API is under /api/v1 (see /api/v1/openapi.json)")
            case .methodNotAllowed: failure = .badRequest("\(path.prefix(200)) does not take this method; see /api/v1/openapi.json")
            case .contentTooLarge: failure = .badRequest("the request body is too large")
            default: failure = RequestError(code: error.status.code < 500 ? .badRequest : .internal, message: error.body ?? error.status.reasonPhrase)
            }
        default:
            failure = .internalError("studiod failed: \(error); details are in journalctl -u studiod")
        }
        return jsonError(failure)
    }

    static func jsonError(_ failure: RequestError) -> Response {
        let (head, body) = errorParts(failure)
        return Response(status: head.status, headers: head.headerFields, body: .init(byteBuffer: body))
    }

    /// A refused WebSocket upgrade's answer: the JSON error with the security headers.
    static func refusal(_ failure: RequestError) -> StudioHTTPChannel.Refusal {
        var (head, body) = errorParts(failure)
        head.headerFields[.contentSecurityPolicy] = contentSecurityPolicy
        head.headerFields[.xContentTypeOptions] = "nosniff"
        head.headerFields[.cacheControl] = "no-store"
        return StudioHTTPChannel.Refusal(head: head, body: body)
    }

    static func errorParts(_ failure: RequestError) -> (HTTPResponse, ByteBuffer) {
        struct Body: Encodable {
            struct Inner: Encodable { var code: String; var message: String }
            var error: Inner
        }
        // The web's codes are docs/web-api.md's; the agent's own two are said in its terms.
        let code: ErrorCode = switch failure.code {
        case .unsupported: .badRequest
        case .spawnFailed: .internal
        default: failure.code
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        let data = (try? encoder.encode(Body(error: .init(code: code.rawValue, message: failure.message)))) ?? Data()
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retry = failure.retryAfterSeconds { headers[.retryAfter] = "\(retry)" }
        return (HTTPResponse(status: .init(code: code.httpStatus), headerFields: headers), ByteBuffer(bytes: data))
    }
}
