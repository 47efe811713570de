/// The audited events, each with its fixed journal `MESSAGE_ID` (explained in `studio.catalog`, `journalctl -x`).
public enum AuditEvent: String, Sendable, CaseIterable {
    case workspaceCreate = "workspace-create"
    case workspaceStart = "workspace-start"
    case workspaceStop = "workspace-stop"
    case workspaceDelete = "workspace-delete"
    case workspaceLimits = "workspace-limits"
    /// `keep --for`: not stopped for idleness before a time.
    case workspaceKeep = "workspace-keep"
    /// `reset`: a container workspace's own layer (and with `--home` its home) dropped.
    case workspaceReset = "workspace-reset"
    case permissionDenied = "permission-denied"
    case login
    case logout

    /// 128-bit ids, as `journalctl --new-id128` makes them.
    public var messageID: String {
        switch self {
        case .workspaceCreate: "9f7c2a1e5b3d4c6fa0e1d2c3b4a59687"
        case .workspaceStart: "3e6b9d0c1a2f4e5d8c7b6a5f4e3d2c1b"
        case .workspaceStop: "b1c2d3e4f5a64b7c8d9e0f1a2b3c4d5e"
        case .workspaceDelete: "5d4c3b2a1f0e4d9c8b7a6f5e4d3c2b1a"
        case .workspaceLimits: "7a8b9c0d1e2f4a3b9c5d6e7f8a9b0c1d"
        case .workspaceKeep: "2f9a6c4e8b1d4f3a9e7c5b3a1d8f6e4c"
        case .workspaceReset: "8d3f1b6a2c9e4f07a5b8d1e6c3f2a904"
        case .permissionDenied: "e0d1c2b3a4f54e6d9c8b7a6f5e4d3c2b"
        case .login: "4b1e8f2a9c3d4e7f8a0b1c2d3e4f5a6b"
        case .logout: "6c2d9e3f0a1b4c8d9e2f3a4b5c6d7e8f"
        }
    }
}
