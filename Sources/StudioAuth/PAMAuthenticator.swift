import CPAM
#if canImport(Glibc)
import Glibc
#endif

/// Checks a Linux account's password through PAM (`/etc/pam.d/<service>`), then whether the account may log in.
///
/// Only the broker (root) calls this; studiod never sees PAM.
public enum PAMAuthenticator {
    /// The outcome of a login attempt.
    public enum Outcome: Sendable, Equatable {
        case success
        /// Wrong password, unknown user, or the account may not log in now; `reason` is PAM's text, for the log only
        /// (the client is told just "wrong user name or password" so accounts cannot be probed).
        case denied(reason: String)
        /// PAM itself failed (missing service file, module error).
        case failure(reason: String)
    }

    /// Runs `pam_authenticate` and `pam_acct_mgmt` for `user` with `password` under `service`.
    public static func authenticate(service: String, user: String, password: String, remoteHost: String? = nil) -> Outcome {
        let secret = strdup(password)
        defer {
            if let secret {
                memset(secret, 0, strlen(secret))
                free(secret)
            }
        }
        var conversation = pam_conv(conv: converse, appdata_ptr: UnsafeMutableRawPointer(secret))
        var handle: OpaquePointer?
        let started = pam_start(service, user, &conversation, &handle)
        guard started == PAM_SUCCESS, let handle else {
            return .failure(reason: "pam_start(\(service)) failed with PAM status \(started)")
        }
        if let remoteHost {
            let set = pam_set_item(handle, PAM_RHOST, remoteHost)
            guard set == PAM_SUCCESS else {
                pam_end(handle, set)
                return .failure(reason: "pam_set_item(PAM_RHOST) failed with PAM status \(set)")
            }
        }
        var status = pam_authenticate(handle, Int32(PAM_DISALLOW_NULL_AUTHTOK))
        if status == PAM_SUCCESS { status = pam_acct_mgmt(handle, Int32(PAM_DISALLOW_NULL_AUTHTOK)) }
        let reason = String(cString: pam_strerror(handle, status))
        pam_end(handle, status)
        switch status {
        case PAM_SUCCESS: return .success
        case PAM_AUTH_ERR, PAM_USER_UNKNOWN, PAM_MAXTRIES, PAM_ACCT_EXPIRED, PAM_NEW_AUTHTOK_REQD, PAM_PERM_DENIED,
             PAM_CRED_INSUFFICIENT, PAM_AUTHINFO_UNAVAIL:
            return .denied(reason: reason)
        default: return .failure(reason: reason)
        }
    }
}

/// PAM's conversation callback: answers password prompts with the secret passed as `appdata`.
private func converse(
    count: Int32,
    messages: UnsafeMutablePointer<UnsafePointer<pam_message>?>?,
    responses: UnsafeMutablePointer<UnsafeMutablePointer<pam_response>?>?,
    appdata: UnsafeMutableRawPointer?
) -> Int32 {
    guard count > 0, let messages, let responses,
          let replies = calloc(Int(count), MemoryLayout<pam_response>.stride)?.assumingMemoryBound(to: pam_response.self)
    else { return PAM_CONV_ERR }
    for index in 0..<Int(count) {
        guard let message = messages[index]?.pointee else { continue }
        switch message.msg_style {
        case PAM_PROMPT_ECHO_OFF:
            // The password prompt, and only it, gets the password.
            replies[index].resp = appdata.map { strdup($0.assumingMemoryBound(to: CChar.self)) } ?? nil
        case PAM_PROMPT_ECHO_ON:
            // A visible prompt asks for something else (a user name, a one-time code we cannot ask a person for):
            // never answer it with the password, end the conversation instead.
            for answered in 0..<index { free(replies[answered].resp) }
            free(replies)
            return PAM_CONV_ERR
        default:
            replies[index].resp = nil  // informational text and errors need no answer
        }
        replies[index].resp_retcode = 0
    }
    responses.pointee = replies
    return PAM_SUCCESS
}
