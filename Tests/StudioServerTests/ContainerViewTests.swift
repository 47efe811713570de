import Foundation
import StudioCore
import Testing
@testable import StudioServer

/// What the web API shows of container workspaces: `backend` and `image` on a workspace and a template, the image
/// list with every key, a terminal's `root`; never the uid range or the agent's host pid.
@Suite struct ContainerViewTests {
    func info(state: String = "running", backend: Template.Backend?, image: String? = nil) -> WorkspaceInfo {
        let definition = WorkspaceDefinition(
            identity: WorkspaceIdentity(owner: "alice", uid: 1000, name: try! WorkspaceName("box")), projectDirectory: "/home/alice/box",
            template: "box", createdAt: 1_000, uidBase: 0x7001_0000)
        let status = UnitStatus(name: definition.identity.unitName, activeState: state == "running" ? "active" : "inactive", subState: "")
        return WorkspaceInfo(
            definition: definition, unitStatus: status, limits: ResourceLimits(), backend: backend, image: image, agentPID: 4242)
    }

    func json(_ value: some Encodable) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: JSONEncoder().encode(value)) as! [String: Any]
    }

    @Test func aContainerWorkspaceShowsItsBackendAndImage() throws {
        let view = WorkspaceView(info(backend: .container, image: "built"), template: nil, now: 2_000)
        #expect(view.backend == "container" && view.image == "built")
        let object = try json(view)
        #expect(object["backend"] as? String == "container" && object["image"] as? String == "built")
    }

    @Test func aHostWorkspaceIsHostWithANullImage() throws {
        let object = try json(WorkspaceView(info(backend: .host), template: nil, now: 2_000))
        #expect(object["backend"] as? String == "host")
        #expect(object.keys.contains("image") && object["image"] is NSNull)
    }

    @Test func aWorkspaceWhoseTemplateHasGoneHasNullBackendAndImage() throws {
        let object = try json(WorkspaceView(info(state: "stopped", backend: nil, image: "built"), template: nil, now: 2_000))
        #expect(object["backend"] is NSNull && object["image"] is NSNull)
    }

    @Test func theUidRangeAndTheAgentsPidAreNotShown() throws {
        let object = try json(WorkspaceView(info(backend: .container, image: "built"), template: nil, now: 2_000))
        let text = String(decoding: try JSONEncoder().encode(WorkspaceView(info(backend: .container, image: "built"), template: nil, now: 2_000)), as: UTF8.self)
        #expect(!object.keys.contains("uidBase") && !object.keys.contains("agentPID") && !object.keys.contains("definition"))
        #expect(!text.contains("4242") && !text.contains(String(0x7001_0000)))
        // Every key the contract had before is still there, and only these two are new.
        #expect(Set(object.keys) == [
            "name", "owner", "state", "projectDirectory", "template", "unit", "createdAt", "startedAt", "uptimeSeconds", "limits", "usage",
            "terminals", "apps", "idle", "backend", "image",
        ])
    }

    @Test func templatesSayTheirBackendAndImage() throws {
        let list = TemplateList(templates: [
            Template(name: "default", description: "A shell"),
            Template(name: "box", backend: .container, image: try ImageName("built"), network: .none),
        ], defaultTemplate: "default")
        let view = TemplateListView(list)
        #expect(view.templates.map(\.backend) == ["host", "container"])
        #expect(view.templates.map(\.image) == [nil, "built"])
        let object = try json(view)
        let templates = object["templates"] as! [[String: Any]]
        #expect(templates[0]["image"] is NSNull && templates[1]["image"] as? String == "built")
        #expect(Set(templates[1].keys) == ["name", "description", "terminals", "apps", "backend", "image"])
    }

    @Test func imagesHaveEveryKeyAndAnRFC3339Time() throws {
        let list = ImageList(images: [
            ImageInfo(name: "built", path: "/var/lib/machines/built", os: "Debian GNU/Linux 12 (bookworm)", usable: true, templates: ["box"], modifiedAt: 9_000.7),
            ImageInfo(name: "junk", path: "/var/lib/machines/junk", os: nil, usable: false, problem: "has no os-release: not an OS tree"),
        ])
        let view = ImageListView(list)
        #expect(view.images[0].modifiedAt == "1970-01-01T02:30:00Z")
        let images = try json(view)["images"] as! [[String: Any]]
        for image in images {
            #expect(Set(image.keys) == ["name", "path", "os", "usable", "problem", "templates", "modifiedAt"])
        }
        #expect(images[0]["problem"] is NSNull && images[0]["templates"] as? [String] == ["box"] && images[0]["usable"] as? Bool == true)
        #expect(images[1]["os"] is NSNull && images[1]["modifiedAt"] is NSNull && images[1]["templates"] as? [String] == [])
        #expect(images[1]["problem"] as? String == "has no os-release: not an OS tree")
    }

    @Test func anOptionalBodyMayBeLeftOut() throws {
        struct Body: Decodable { var home: Bool? }
        #expect(try JSONBody.decode(Body.self, from: Data(#"{"home": true}"#.utf8)).home == true)
        #expect(try JSONBody.decode(Body.self, from: Data("{}".utf8)).home == nil)
        #expect(throws: RequestError.self) { try JSONBody.decode(Body.self, from: Data(#"{"home": "yes"}"#.utf8)) }
        #expect(throws: RequestError.self) { try JSONBody.decode(Body.self, from: Data("[]".utf8)) }
    }
}
