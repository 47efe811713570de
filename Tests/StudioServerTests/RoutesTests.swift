import Foundation
import Hummingbird
import HummingbirdTesting
import StudioCore
import Testing
@testable import StudioServer

@Suite struct RoutesTests {
    @Test func healthzAnswersVersionAndUptime() async throws {
        let app = Application(router: Routes.router(uptime: { 42.5 }))
        try await app.test(.router) { client in
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.hasPrefix("application/json") == true)
                let health = try JSONDecoder().decode(Health.self, from: Data(buffer: response.body))
                #expect(health == Health(uptimeSeconds: 42.5))
                #expect(health.version == StudioVersion.string)
            }
        }
    }

    @Test func unknownPathsAre404() async throws {
        let app = Application(router: Routes.router(uptime: { 0 }))
        try await app.test(.router) { client in
            try await client.execute(uri: "/nope", method: .get) { response in
                #expect(response.status == .notFound)
            }
        }
    }
}
