import Hummingbird
import StudioCore

/// The HTTP API and web UI served by studiod.
public enum Routes {
    /// Builds the router. `uptime` answers how long this process has been up, in seconds; `configError` is the
    /// problem with the configuration files, if any, reported by `/healthz`.
    public static func router(uptime: @escaping @Sendable () -> Double, configError: String? = nil) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.get("/healthz") { _, _ -> Health in
            Health(status: configError == nil ? "ok" : "degraded", uptimeSeconds: uptime(), configError: configError)
        }
        return router
    }
}

extension Health: ResponseEncodable {}
