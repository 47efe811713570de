import Foundation
import Testing
import StudioCore

@Suite struct WebOriginTests {
    @Test func parsesOriginsAsBrowsersSendThem() {
        #expect(WebOrigin("https://box.tailnet.ts.net") == WebOrigin(scheme: "https", host: "box.tailnet.ts.net", port: 443))
        #expect(WebOrigin("http://127.0.0.1:7080")?.port == 7080)
        #expect(WebOrigin("HTTPS://Box.Example:443")?.description == "https://box.example")
        #expect(WebOrigin("http://[::1]:7080")?.host == "[::1]")
        #expect(WebOrigin("ftp://x") == nil)
        #expect(WebOrigin("http://") == nil)
        #expect(WebOrigin("http://evil.example/path") == nil)
        #expect(WebOrigin("http://host:99999") == nil)
        #expect(WebOrigin("null") == nil)
    }

    @Test func theRequestsOwnOriginComesFromItsHost() {
        #expect(WebOrigin(scheme: "http", hostHeader: "127.0.0.1:7080") == WebOrigin("http://127.0.0.1:7080"))
        #expect(WebOrigin(scheme: "https", hostHeader: "box.tailnet.ts.net") == WebOrigin("https://box.tailnet.ts.net:443"))
        // Another port is another origin.
        #expect(WebOrigin(scheme: "http", hostHeader: "127.0.0.1:7081") != WebOrigin("http://127.0.0.1:7080"))
        #expect(WebOrigin(scheme: "http", hostHeader: "a b") == nil)
    }
}

@Suite struct ErrorCodeTests {
    @Test func everyCodeHasItsStatusAndExitCode() {
        #expect(ErrorCode.badRequest.httpStatus == 400)
        #expect(ErrorCode.unauthorized.httpStatus == 401)
        #expect(ErrorCode.forbidden.httpStatus == 403)
        #expect(ErrorCode.notFound.httpStatus == 404)
        #expect(ErrorCode.conflict.httpStatus == 409)
        #expect(ErrorCode.rateLimited.httpStatus == 429)
        #expect(ErrorCode.unavailable.httpStatus == 503)
        #expect(ErrorCode.internal.httpStatus == 500)
        #expect(ErrorCode.badRequest.exitCode == 65)
        #expect(ErrorCode.notFound.exitCode == 66)
        #expect(ErrorCode.forbidden.exitCode == 77)
        #expect(ErrorCode.busy.exitCode == 75)
        #expect(ErrorCode.config.exitCode == 78)
        // No 5xx for anything a caller got wrong.
        for code in ErrorCode.allCases where [.badRequest, .unauthorized, .forbidden, .notFound, .conflict, .rateLimited, .busy].contains(code) {
            #expect(code.httpStatus < 500, "\(code)")
        }
    }

    @Test func anUnknownCodeFromANewerPeerDecodesAsInternal() throws {
        let error = try JSONDecoder().decode(RequestError.self, from: Data(#"{"code":"brand_new","message":"m"}"#.utf8))
        #expect(error.code == .internal)
        #expect(error.message == "m")
    }
}
