import Hummingbird
import StudioCore

/// The HTTP API and web UI served by studiod.
public enum Routes {
    /// Builds the router. `uptime` answers how long this process has been up, in seconds.
    public static func router(uptime: @escaping @Sendable () -> Double) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.get("/healthz") { _, _ -> Health in
            Health(uptimeSeconds: uptime())
        }
        return router
    }
}

extension Health: ResponseEncodable {}
