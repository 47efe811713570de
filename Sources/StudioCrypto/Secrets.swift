import CCrypto

/// The one Swift face of OpenSSL's libcrypto: random tokens, their hashes, and comparing secrets.
///
/// Login tokens are 256 random bits from the OS's CSPRNG (RAND_bytes), handed out once in base64url; only their
/// SHA-256 is ever stored, so a copy of the database opens no session.
public enum Secrets {
    /// Why the CSPRNG could not give bytes (it does not fail on Linux with getrandom; if it ever does, no token).
    public struct RandomFailure: Error, CustomStringConvertible {
        public var description: String { "the system's random number generator failed (RAND_bytes)" }
    }

    /// `count` random bytes.
    public static func randomBytes(_ count: Int) throws(RandomFailure) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let status = bytes.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32($0.count)) }
        guard status == 1 else { throw RandomFailure() }
        return bytes
    }

    /// A new token: 32 random bytes in unpadded base64url (43 characters).
    public static func token() throws(RandomFailure) -> String {
        Base64URL.encode(try randomBytes(32))
    }

    /// SHA-256 of `text`'s UTF-8, in lower-case hex.
    public static func sha256Hex(_ text: String) -> String {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let bytes = Array(text.utf8)
        let status = bytes.withUnsafeBytes { input in
            EVP_Digest(input.baseAddress, input.count, &digest, &length, EVP_sha256(), nil)
        }
        precondition(status == 1, "EVP_Digest(SHA-256) failed")
        return digest[..<Int(length)].map { byte in
            let hex = Array("0123456789abcdef".utf8)
            return String(decoding: [hex[Int(byte >> 4)], hex[Int(byte & 0x0f)]], as: UTF8.self)
        }.joined()
    }

    /// Whether two secrets are equal, in time that does not depend on where they differ.
    public static func equal(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return x.withUnsafeBytes { xp in y.withUnsafeBytes { yp in CRYPTO_memcmp(xp.baseAddress, yp.baseAddress, xp.count) == 0 } }
    }
}

/// Unpadded base64url (RFC 4648 §5), the alphabet that is safe in cookies and paths.
public enum Base64URL {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    public static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var index = 0
        while index + 3 <= bytes.count {
            let n = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            out += [alphabet[Int(n >> 18)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)], alphabet[Int(n & 63)]]
            index += 3
        }
        let rest = bytes.count - index
        if rest == 1 {
            let n = UInt32(bytes[index]) << 16
            out += [alphabet[Int(n >> 18)], alphabet[Int(n >> 12 & 63)]]
        } else if rest == 2 {
            let n = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8
            out += [alphabet[Int(n >> 18)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)]]
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Whether `text` looks like one of our tokens: 43 base64url characters.
    public static func isToken(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        return bytes.count == 43 && bytes.allSatisfy { alphabet.contains($0) }
    }
}
