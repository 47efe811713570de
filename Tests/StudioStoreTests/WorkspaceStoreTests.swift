import Glibc
import StudioCore
import Testing
@testable import StudioStore

@Suite struct WorkspaceStoreTests {
    func definition(_ name: String, uid: UInt32 = 1000, owner: String = "alice") throws -> WorkspaceDefinition {
        WorkspaceDefinition(
            identity: WorkspaceIdentity(owner: owner, uid: uid, name: try WorkspaceName(name)),
            projectDirectory: "/home/\(owner)/\(name)", template: "default",
            limits: ResourceLimits(memoryMaxBytes: 1 << 30, cpus: 1.5), createdAt: 1_700_000_000)
    }

    @Test func storesAndFindsWorkspacesPerOwner() throws {
        let store = try WorkspaceStore()
        try store.insert(definition("web"))
        try store.insert(definition("api"))
        try store.insert(definition("web", uid: 1001, owner: "bob"))
        #expect(try store.find(uid: 1000, name: WorkspaceName("web")) == definition("web"))
        #expect(try store.list(uid: 1000).map(\.identity.name.rawValue) == ["api", "web"])
        #expect(try store.list(uid: 1001).map(\.identity.owner) == ["bob"])
        #expect(try store.list(uid: nil).count == 3)
    }

    @Test func givesEachContainerWorkspaceItsOwnUIDRangeAndKeepsIt() throws {
        let store = try WorkspaceStore()
        for name in ["a", "b", "c"] { try store.insert(definition(name)) }
        #expect(try store.uidBase(uid: 1000, name: WorkspaceName("a")) == 0x7000_0000)
        #expect(try store.uidBase(uid: 1000, name: WorkspaceName("b")) == 0x7001_0000)
        // Asked again: the same range, stored with the row.
        #expect(try store.uidBase(uid: 1000, name: WorkspaceName("a")) == 0x7000_0000)
        #expect(try store.find(uid: 1000, name: WorkspaceName("b"))?.uidBase == 0x7001_0000)
        // A deleted workspace's range is given to the next one that needs one.
        try store.delete(uid: 1000, name: WorkspaceName("a"))
        #expect(try store.uidBase(uid: 1000, name: WorkspaceName("c")) == 0x7000_0000)
        #expect(try store.find(uid: 1000, name: WorkspaceName("c"))?.uidBase == 0x7000_0000)
        #expect(throws: WorkspaceStoreFailure.self) { try store.uidBase(uid: 1000, name: WorkspaceName("gone")) }
    }

    @Test func refusesADuplicateNameForTheSameOwner() throws {
        let store = try WorkspaceStore()
        try store.insert(definition("web"))
        #expect {
            try store.insert(definition("web"))
        } throws: { error in
            guard case .workspace(.alreadyExists("web")) = error as? WorkspaceStoreFailure else { return false }
            return true
        }
        #expect(try store.list(uid: 1000).count == 1)
    }

    @Test func updatesLimitsAndDeletes() throws {
        let store = try WorkspaceStore()
        try store.insert(definition("web"))
        let limits = ResourceLimits(memoryMaxBytes: 2 << 30, tasksMax: 100)
        try store.updateLimits(uid: 1000, name: WorkspaceName("web"), limits: limits)
        #expect(try store.find(uid: 1000, name: WorkspaceName("web"))?.limits == limits)
        #expect(try store.delete(uid: 1000, name: WorkspaceName("web")))
        #expect(try store.delete(uid: 1000, name: WorkspaceName("web")) == false)
        #expect(try store.find(uid: 1000, name: WorkspaceName("web")) == nil)
    }

    @Test func keepsDataAcrossReopening() throws {
        let path = "/tmp/studio-store-test-\(UInt32.random(in: 0...UInt32.max)).db"
        defer { unlink(path) }
        try WorkspaceStore(path: path).insert(definition("web"))
        #expect(try WorkspaceStore(path: path).find(uid: 1000, name: WorkspaceName("web")) != nil)
    }
}
