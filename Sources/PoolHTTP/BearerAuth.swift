/// Checks `Authorization: Bearer <token>` headers against the pool token.
struct BearerAuth: Sendable {
    /// `nil`: no token configured and unauthenticated access explicitly allowed.
    let token: [UInt8]?

    init(token: String?) {
        self.token = token.map { Array($0.utf8) }
    }

    /// Whether `header` (the raw Authorization value, if any) carries the pool token.
    func allows(_ header: String?) -> Bool {
        guard let token else { return true }
        guard let header, let presented = Self.bearerCredentials(header) else { return false }
        return Self.constantTimeEqual(presented, token)
    }

    /// The credentials of a `Bearer` authorization value (scheme case-insensitive, RFC 7235).
    static func bearerCredentials(_ header: String) -> [UInt8]? {
        var bytes = Array(header.utf8)
        while let f = bytes.first, f == 0x20 || f == 0x09 { bytes.removeFirst() }
        while let l = bytes.last, l == 0x20 || l == 0x09 { bytes.removeLast() }
        let scheme = Array("bearer".utf8)
        guard bytes.count > scheme.count + 1 else { return nil }
        for i in 0..<scheme.count where bytes[i] | 0x20 != scheme[i] { return nil }
        guard bytes[scheme.count] == 0x20 else { return nil }
        let credentials = bytes[(scheme.count + 1)...].drop(while: { $0 == 0x20 })
        return credentials.isEmpty ? nil : Array(credentials)
    }

    /// Compares without an early exit, so timing reveals neither a matching prefix nor where the
    /// first difference is (the length of the expected token may still leak; it is not secret).
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff = UInt64(UInt(bitPattern: a.count) ^ UInt(bitPattern: b.count))
        let n = max(a.count, b.count)
        for i in 0..<n {
            let x = i < a.count ? a[i] : 0
            let y = i < b.count ? b[i] : 0xFF
            diff |= UInt64(x ^ y)
        }
        return diff == 0
    }
}
