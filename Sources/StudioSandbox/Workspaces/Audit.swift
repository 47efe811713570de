import Logging
import StudioCore
import StudioNet

/// Writes audit entries: `STUDIO_AUDIT=1` with a fixed `MESSAGE_ID` per event, so that
/// `journalctl STUDIO_AUDIT=1` is the audit trail and `journalctl -x` explains each entry.
struct Audit: Sendable {
    let logger: Logger

    /// The address of the person studiod acts for in this request (a web request), recorded as STUDIO_REMOTE_ADDR.
    @TaskLocal static var remoteAddress: String?

    /// Records `event` about `workspace` of `owner`, asked by `caller`, with its result (`success`, `failure`,
    /// `denied`) and, on failure, the reason.
    func record(
        _ event: AuditEvent, owner: String?, workspace: String?, caller: PeerCredentials, result: String, reason: String? = nil,
        fields: Logger.Metadata = [:]
    ) {
        // Only what is valid is recorded as itself: an owner or workspace that is not a name is not one, and a
        // reason is one line of bounded length. The trail must not be a place to inject lines or bulk.
        let owner = owner.map { UserName.isValid($0) ? $0 : "(invalid)" }
        let workspace = workspace.map { (try? WorkspaceName($0)) != nil ? $0 : "(invalid)" }
        let reason = reason.map(Self.oneLine)
        var metadata: Logger.Metadata = [
            "message_id": "\(event.messageID)",
            "studio_audit": "1",
            "studio_event": "\(event.rawValue)",
            "studio_result": "\(result)",
            "studio_caller_uid": "\(caller.uid)",
            "studio_caller_pid": "\(caller.pid)",
        ]
        metadata.merge(fields) { mine, _ in mine }
        if let owner { metadata["studio_user"] = "\(owner)" }
        if let workspace { metadata["studio_workspace"] = "\(workspace)" }
        if let reason { metadata["studio_reason"] = "\(reason)" }
        if let remote = Self.remoteAddress.map(Self.oneLine) { metadata["studio_remote_addr"] = "\(remote)" }
        let subject = [owner, workspace].compactMap { $0 }.joined(separator: "/")
        let text = "\(event.rawValue) \(subject.isEmpty ? "" : subject + " ")by uid \(caller.uid): \(result)" + (reason.map { " (\($0))" } ?? "")
        logger.log(level: result == "success" ? .notice : .warning, "\(text)", metadata: metadata)
    }

    /// At most 1000 characters, control characters (newlines) as spaces.
    static func oneLine(_ text: String) -> String {
        let scalars = text.unicodeScalars.prefix(1000).map { $0.properties.generalCategory == .control ? " " : Character($0) }
        return String(scalars) + (text.unicodeScalars.count > 1000 ? "…" : "")
    }
}
