#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import HTTPTypes
import Hummingbird
import NIOCore
import StudioClient
import StudioCore
import StudioNet

/// `/api/v1`: sessions, workspaces, templates, logs (docs/web-api.md). Every call goes to the broker with the
/// request's login grant; the broker acts as that user or refuses.
struct APIRoutes {
    let settings: WebSettings
    let now: @Sendable () -> Double

    func register(on api: RouterGroup<StudioRequestContext>) {
        // Sessions.
        api.post("login", use: login)
        api.post("logout", use: logout)
        api.get("session") { request, context -> SessionView in
            SessionView(try await broker(request, context).call(.session, NoParams(), as: SessionInfo.self))
        }
        api.get("openapi.json") { _, _ -> Response in
            try await StaticFiles.file(at: "\(settings.webRoot)/openapi.json", contentType: "application/json")
        }
        api.get("templates") { request, context -> TemplateListView in
            TemplateListView(try await broker(request, context).call(.templates, NoParams(), as: TemplateList.self))
        }
        api.get("images") { request, context -> ImageListView in
            ImageListView(try await broker(request, context).call(.images, NoParams(), as: ImageList.self))
        }

        // Workspaces.
        api.get("workspaces") { request, context -> WorkspaceListView in
            let broker = try broker(request, context)
            async let list = broker.call(.list, ListParams(), as: WorkspaceList.self)
            let templates = try? await broker.call(.templates, NoParams(), as: TemplateList.self)
            return WorkspaceListView(workspaces: try await list.workspaces.map { view($0, templates) })
        }
        api.post("workspaces", use: create)
        api.get("workspaces/:name") { request, context -> WorkspaceView in
            try await fetch(try broker(request, context), name: try name(context))
        }
        api.patch("workspaces/:name") { request, context -> WorkspaceView in
            struct Body: Decodable { var limits: LimitsBody?; var idleTimeoutSeconds: Double? }
            let body = try await JSONBody.decode(Body.self, from: request, context: context)
            let limits = body.limits?.resourceLimits ?? ResourceLimits()
            guard limits != ResourceLimits() || body.idleTimeoutSeconds != nil else {
                throw RequestError.badRequest("say what to change: \"limits\" ({\"memoryMaxBytes\", \"cpus\", \"tasksMax\"}), \"idleTimeoutSeconds\" (0: never), or both")
            }
            let broker = try broker(request, context)
            let name = try name(context)
            let params = SetParams(name: name, limits: limits, idleTimeoutSeconds: body.idleTimeoutSeconds)
            _ = try await broker.call(.set, params, as: WorkspaceInfo.self)
            return recorded(try await fetch(broker, name: name))
        }
        api.post("workspaces/:name/keep") { request, context -> WorkspaceView in
            struct Body: Decodable { var seconds: Double }
            let body = try await JSONBody.decode(Body.self, from: request, context: context)
            let broker = try broker(request, context)
            let name = try name(context)
            async let templates = try? broker.call(.templates, NoParams(), as: TemplateList.self)
            let result = try await broker.call(.keep, KeepParams(name: name, seconds: body.seconds), as: KeepResult.self)
            let info = result.workspace
            return recorded(WorkspaceView(
                info, template: await templates?.templates.first { $0.name == info.definition.template }, now: now(),
                keepUntil: .some(result.keepUntil)))
        }
        api.delete("workspaces/:name") { request, context -> Response in
            _ = try await broker(request, context).call(.delete, WorkspaceTarget(name: try name(context)), as: Done.self)
            return Response(status: .noContent)
        }
        api.post("workspaces/:name/start") { request, context -> WorkspaceView in
            let broker = try broker(request, context)
            let name = try name(context)
            _ = try await broker.call(.start, CreateParams(name: name), as: StartResult.self)
            return recorded(try await fetch(broker, name: name))
        }
        api.post("workspaces/:name/stop") { request, context -> WorkspaceView in
            let broker = try broker(request, context)
            let name = try name(context)
            _ = try await broker.call(.stop, StopParams(name: name), as: Done.self)
            return try await fetch(broker, name: name)
        }
        api.post("workspaces/:name/restart") { request, context -> WorkspaceView in
            let broker = try broker(request, context)
            let name = try name(context)
            _ = try await broker.call(.restart, WorkspaceTarget(name: name), as: StartResult.self)
            return recorded(try await fetch(broker, name: name))
        }
        api.post("workspaces/:name/reset") { request, context -> WorkspaceView in
            // The body is optional: none (or an empty one) keeps the home.
            struct Body: Decodable { var home: Bool? }
            let body = try await JSONBody.decodeOptional(Body.self, from: request, context: context)
            let broker = try broker(request, context)
            let name = try name(context)
            async let templates = try? broker.call(.templates, NoParams(), as: TemplateList.self)
            let info = try await broker.call(.reset, ResetParams(target: WorkspaceTarget(name: name), home: body?.home ?? false), as: WorkspaceInfo.self)
            // No activity record: a reset is done on a stopped workspace, which idleness does not concern.
            return view(info, await templates)
        }
        api.get("workspaces/:name/terminals") { request, context -> TerminalListView in
            let list = try await broker(request, context).connect(ConnectParams(name: try name(context), request: AgentRequest(op: "terminals"))) { stream in
                stream.response.terminals ?? []
            }
            return TerminalListView(terminals: list.map {
                .init(name: $0.name, command: $0.command, clients: $0.clients, cols: $0.cols, rows: $0.rows, root: $0.root == true)
            })
        }
        api.get("workspaces/:name/logs", use: logs)
        api.post("workspaces/:name/apps/:app/ticket") { request, context -> TicketView in
            let name = try name(context)
            guard let app = context.parameters.get("app"), AgentProtocol.isValidTerminalName(app) else {
                throw RequestError.notFound("no such app")
            }
            let broker = try broker(request, context)
            let info = try await broker.call(.status, WorkspaceTarget(name: name), as: WorkspaceInfo.self)
            let templates = try await broker.call(.templates, NoParams(), as: TemplateList.self)
            guard templates.templates.first(where: { $0.name == info.definition.template })?.apps.contains(where: { $0.name == app }) == true else {
                throw RequestError.notFound("workspace \"\(name)\" has no app \"\(app)\"; its template \(info.definition.template) defines the apps")
            }
            guard info.state == "running" else { throw RequestError.conflict("workspace \"\(name)\" is \(info.state); start it first") }
            let ticket = try await broker.call(.ticket, TicketParams(name: name, app: app), as: TokenResult.self)
            guard let origin = settings.appsOrigin(of: request, context: context) else {
                throw RequestError.badRequest("the request has no Host header")
            }
            let owner = info.definition.identity.owner
            settings.activity.record(.api, owner: owner, workspace: name)
            return TicketView(url: "\(origin)/\(owner)/\(name)/apps/\(app)/?ticket=\(ticket.token)")
        }
        // Anything else under /api is a JSON 404, not the dashboard.
        api.get("**") { request, _ -> Response in throw HTTPError(.notFound) }
    }

    func broker(_ request: Request, _ context: StudioRequestContext) throws -> BrokerConnection {
        guard let token = WebSettings.sessionToken(request), !token.isEmpty else {
            throw RequestError.unauthorized("not logged in; log in on the dashboard first")
        }
        return settings.broker(request, context: context, token: token)
    }

    func name(_ context: StudioRequestContext) throws -> String {
        guard let name = context.parameters.get("name"), (try? WorkspaceName(name)) != nil else {
            throw RequestError.notFound("no such workspace")
        }
        return name
    }

    /// An activity record (source `api`) for a workspace its owner has just acted on; returns the view. Only for
    /// actions of a person: never for a GET, so that a forgotten dashboard tab polling the list keeps nothing up.
    func recorded(_ view: WorkspaceView) -> WorkspaceView {
        settings.activity.record(.api, owner: view.owner, workspace: view.name)
        return view
    }

    func view(_ info: WorkspaceInfo, _ templates: TemplateList?) -> WorkspaceView {
        WorkspaceView(info, template: templates?.templates.first { $0.name == info.definition.template }, now: now())
    }

    func fetch(_ broker: BrokerConnection, name: String) async throws -> WorkspaceView {
        async let info = broker.call(.status, WorkspaceTarget(name: name), as: WorkspaceInfo.self)
        let templates = try? await broker.call(.templates, NoParams(), as: TemplateList.self)
        return view(try await info, templates)
    }

    // MARK: Sessions

    @Sendable func login(_ request: Request, context: StudioRequestContext) async throws -> Response {
        struct Body: Decodable { var username: String; var password: String }
        let body = try await JSONBody.decode(Body.self, from: request, context: context)
        let remote = settings.remoteAddress(of: request, context: context)
        let result = try await BrokerConnection(socketPath: settings.brokerSocket, remote: remote).call(
            .login, LoginParams(username: body.username, password: body.password, remoteAddress: remote), as: LoginResult.self)
        var response = try SessionView(result.session).response(from: request, context: context)
        let secure = settings.scheme(of: request, context: context) == "https"
        response.setCookie(Cookie(
            name: WebSettings.sessionCookie, value: result.token, path: "/", secure: secure, httpOnly: true, sameSite: .strict))
        return response
    }

    @Sendable func logout(_ request: Request, context: StudioRequestContext) async throws -> Response {
        _ = try await broker(request, context).call(.logout, NoParams(), as: Done.self)
        var response = Response(status: .noContent)
        let secure = settings.scheme(of: request, context: context) == "https"
        response.setCookie(Cookie(name: WebSettings.sessionCookie, value: "", maxAge: 0, path: "/", secure: secure, httpOnly: true, sameSite: .strict))
        return response
    }

    // MARK: Workspaces

    struct LimitsBody: Decodable {
        var memoryMaxBytes: UInt64?
        var cpus: Double?
        var tasksMax: UInt64?
        var resourceLimits: ResourceLimits { ResourceLimits(memoryMaxBytes: memoryMaxBytes, cpus: cpus, tasksMax: tasksMax) }
    }

    @Sendable func create(_ request: Request, context: StudioRequestContext) async throws -> Response {
        struct Body: Decodable {
            var name: String
            var template: String?
            var projectDirectory: String?
            var limits: LimitsBody?
        }
        let body = try await JSONBody.decode(Body.self, from: request, context: context)
        let broker = try broker(request, context)
        guard (try? WorkspaceName(body.name)) != nil else { throw RequestError.badRequest(WorkspaceError.invalidName(body.name).description) }
        let session = try await broker.call(.session, NoParams(), as: SessionInfo.self)
        let directory: String
        if let given = body.projectDirectory, !given.isEmpty {
            directory = given == "~" || given.hasPrefix("~/") ? Self.home(of: session.user.name) + given.dropFirst() : given
        } else {
            directory = "\(Self.home(of: session.user.name))/\(body.name)"
        }
        let result = try await broker.call(
            .create, CreateParams(name: body.name, projectDirectory: directory, template: body.template, limits: body.limits?.resourceLimits, createDirectory: true),
            as: StartResult.self)
        let templates = try? await broker.call(.templates, NoParams(), as: TemplateList.self)
        var response = try view(result.workspace, templates).response(from: request, context: context)
        response.status = .created
        return response
    }

    /// The user's home directory from the user database.
    static func home(of user: String) -> String {
        UserAccount.named(user)?.home ?? "/home/\(user)"
    }

    @Sendable func logs(_ request: Request, context: StudioRequestContext) async throws -> Response {
        let broker = try broker(request, context)
        let name = try name(context)
        let lines = request.uri.queryParameters["lines"].map { Int($0) } ?? 100
        guard let lines, LogsParams.linesRange.contains(lines) else {
            throw RequestError.badRequest("lines must be a number from \(LogsParams.linesRange.lowerBound) to \(LogsParams.linesRange.upperBound)")
        }
        let follow = ["1", "true"].contains(request.uri.queryParameters["follow"].map(String.init) ?? "")
        let params = LogsParams(name: name, lines: lines, follow: follow)
        if !follow {
            var collected: [LogLineView] = []
            try await broker.stream(.logs, params, as: LogLine.self) { line in
                collected.append(LogLineView(line))
                return true
            }
            return try LogsView(lines: collected).response(from: request, context: context)
        }
        // Check the workspace (and the login) before the stream starts, so that a refusal is an HTTP error.
        _ = try await broker.call(.status, WorkspaceTarget(name: name), as: WorkspaceInfo.self)
        let body = ResponseBody { writer in
            let encoder = JSONEncoder()
            try await broker.stream(.logs, params, as: LogLine.self) { line in
                var data = Array("data: ".utf8)
                data += Array(try encoder.encode(LogLineView(line)))
                data += Array("\n\n".utf8)
                try await writer.write(ByteBuffer(bytes: data))
                return true
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"], body: body)
    }
}

/// Request bodies: small JSON objects, decoded with a message a person can act on.
enum JSONBody {
    static func decode<T: Decodable>(_ type: T.Type, from request: Request, context: StudioRequestContext) async throws -> T {
        let buffer = try await request.body.collect(upTo: context.maxUploadSize)
        return try decode(type, from: Data(buffer.readableBytesView))
    }

    /// For calls whose body may be left out: nil for an empty body (or one of white space only).
    static func decodeOptional<T: Decodable>(_ type: T.Type, from request: Request, context: StudioRequestContext) async throws -> T? {
        let buffer = try await request.body.collect(upTo: context.maxUploadSize)
        let data = Data(buffer.readableBytesView)
        guard data.contains(where: { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }) else { return nil }
        return try decode(type, from: data)
    }

    static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch DecodingError.keyNotFound(let key, _) {
            throw RequestError.badRequest("the request body is missing \"\(key.stringValue)\"")
        } catch DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context) {
            throw RequestError.badRequest("the request body has the wrong type at \"\(context.codingPath.map(\.stringValue).joined(separator: "."))\"")
        } catch {
            throw RequestError.badRequest("the request body is not the JSON object this call takes (see /api/v1/openapi.json)")
        }
    }
}
