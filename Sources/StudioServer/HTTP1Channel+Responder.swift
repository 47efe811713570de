import Hummingbird
import HummingbirdCore
import Logging
import NIOCore

extension HTTP1Channel {
    /// Adapts a Hummingbird responder (a router) to the channel handler's closure, as `Application` does.
    public static func studioResponder<Responder: HTTPResponder>(
        _ responder: Responder, logger: Logger
    ) -> HTTPChannelHandler.Responder where Responder.Context: RequestContext, Responder.Context.Source == ApplicationRequestContextSource {
        { request, writer, channel in
            let context = Responder.Context(source: .init(channel: channel, logger: logger))
            let response: Response
            do {
                response = try await responder.respond(to: request, context: context)
            } catch {
                logger.error("request failed", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
                response = Response(status: .internalServerError)
            }
            try await writer.write(response: response.head, body: response.body)
        }
    }
}
