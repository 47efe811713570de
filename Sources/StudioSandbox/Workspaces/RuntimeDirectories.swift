#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import StudioCore
#if canImport(Glibc)
import Glibc
#endif

/// The per-workspace runtime directory, `/run/studio/ws/<id>/`: owned by the workspace owner, group `studio`,
/// mode 2750 — the owner and studiod may reach the agent's socket inside, nobody else. It also holds the agent's
/// spec (`agent.json`, owner-only).
public struct RuntimeDirectories: Sendable {
    public var root: String
    /// gid given to the directories (the `studio` group), or nil to keep the owner's group.
    public var groupID: UInt32?
    /// Change ownership to the workspace owner (needs root; tests running unprivileged turn it off).
    public var changeOwner: Bool

    public init(root: String = Paths.workspaceRuntimeRoot, groupID: UInt32? = UserAccount.groupID(named: "studio"), changeOwner: Bool = geteuid() == 0) {
        self.root = root
        self.groupID = groupID
        self.changeOwner = changeOwner
    }

    public func directory(for identity: WorkspaceIdentity) -> String { "\(root)/\(identity.id)" }

    /// Makes (or re-makes) the directory and writes the agent's spec; returns the spec's path.
    func prepare(_ spec: AgentSpec, owner: UserAccount) throws(BrokerError) -> String {
        let directory = directory(for: spec.workspace)
        remove(spec.workspace)
        do {
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        } catch {
            throw BrokerError.internalError("cannot create \(root): \(error)")
        }
        guard mkdir(directory, 0o700) == 0 || errno == EEXIST else {
            throw BrokerError.internalError("cannot create \(directory): \(String(cString: strerror(errno)))")
        }
        let specPath = "\(directory)/agent.json"
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        guard let data = try? encoder.encode(spec), FileManager.default.createFile(atPath: specPath, contents: data) else {
            throw BrokerError.internalError("cannot write \(specPath)")
        }
        chmod(specPath, 0o600)
        if changeOwner {
            guard chown(specPath, owner.uid, owner.gid) == 0,
                  chown(directory, owner.uid, groupID ?? owner.gid) == 0,
                  chmod(directory, groupID == nil ? 0o700 : 0o2750) == 0
            else {
                throw BrokerError.internalError("cannot hand \(directory) to \(owner.name): \(String(cString: strerror(errno)))")
            }
        }
        return specPath
    }

    /// Removes the directory and what is in it (sockets of a stopped agent).
    func remove(_ identity: WorkspaceIdentity) {
        try? FileManager.default.removeItem(atPath: directory(for: identity))
    }
}
