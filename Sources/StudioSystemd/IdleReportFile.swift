#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import StudioCore
#if canImport(Glibc)
import Glibc
#endif

/// studio-idled's published view of the running workspaces (`/run/studio-idled/idle.json`): written whole and
/// renamed into place by studio-idled, read by the broker to show in `status`, `list` and the dashboard.
public enum IdleReportFile {
    /// The report, if the file is there, a regular file (never followed through a link), owned by `owner` when
    /// given, at most ``IdleReport/maxBytes``, and valid.
    public static func read(path: String = Paths.idleReport, owner: UInt32? = UserAccount.named("studio-idled")?.uid) -> IdleReport? {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, info.st_size <= IdleReport.maxBytes,
              owner.map({ $0 == info.st_uid }) ?? true
        else { return nil }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        var filled = 0
        while filled < bytes.count {
            let count = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + filled, $0.count - filled) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { break }
            filled += count
        }
        return try? JSONDecoder().decode(IdleReport.self, from: Data(bytes[..<filled]))
    }

    /// Writes the report atomically (a temporary file in the same directory, renamed over the old one).
    public static func write(_ report: IdleReport, path: String = Paths.idleReport) throws(SystemError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(report) else { throw SystemError("encoding the idle report", errno: EINVAL) }
        let temporary = path + ".new"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SystemError("open \(temporary)", errno: errno) }
        let written = data.withUnsafeBytes { buffer -> Int in
            var done = 0
            while done < buffer.count {
                let count = Glibc.write(fd, buffer.baseAddress! + done, buffer.count - done)
                if count < 0, errno == EINTR { continue }
                guard count > 0 else { return -1 }
                done += count
            }
            return done
        }
        let error = errno
        close(fd)
        guard written == data.count else {
            unlink(temporary)
            throw SystemError("write \(temporary)", errno: error)
        }
        guard rename(temporary, path) == 0 else {
            let error = errno
            unlink(temporary)
            throw SystemError("rename \(temporary)", errno: error)
        }
    }
}
