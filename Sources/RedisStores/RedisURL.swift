/// Where Redis is: `redis://[[user]:password@]host[:port][/db]` (as in `SUPER_AGENT_REDIS_URL`).
///
/// The password may be percent-encoded (`%40` for `@`). `description` never shows the password.
public struct RedisURL: Sendable, Equatable, Hashable, CustomStringConvertible {
    public static let defaultPort = 6379

    /// A host name, an IPv4 address or an IPv6 address (without the brackets).
    public var host: String
    public var port: Int
    /// Redis 6 ACL user; nil means the default user (`AUTH password`).
    public var username: String?
    public var password: String?
    /// The logical database chosen with SELECT.
    public var database: Int

    public init(host: String, port: Int = RedisURL.defaultPort, username: String? = nil, password: String? = nil, database: Int = 0) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
    }

    /// Parses `text`; the error says which part is wrong and what was expected.
    public init(parsing text: String) throws(RedisURLError) {
        func fail(_ reason: String) -> RedisURLError { RedisURLError(url: RedisURL.redact(text), reason: reason) }
        let trimmed = text.trimmingSpaces
        guard !trimmed.isEmpty else { throw fail("it is empty") }
        guard let schemeEnd = trimmed.firstRange(of: "://") else { throw fail("it has no scheme; it must start with redis://") }
        let scheme = trimmed[..<schemeEnd.lowerBound].lowercased()
        switch scheme {
        case "redis": break
        case "rediss": throw fail("TLS (rediss://) is not supported; use redis:// (through a TLS-terminating proxy if needed)")
        case "unix", "redis+unix", "redis-socket": throw fail("Unix sockets are not supported; use redis://host:port")
        default: throw fail("the scheme \"\(scheme)\" is not supported; it must start with redis://")
        }
        var rest = Substring(trimmed[schemeEnd.upperBound...])
        if rest.contains("?") || rest.contains("#") { throw fail("query parameters and fragments are not supported") }

        var username: String? = nil
        var password: String? = nil
        if let at = rest.lastIndex(of: "@") {
            let userinfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            guard let colon = userinfo.firstIndex(of: ":") else {
                throw fail("the credentials before \"@\" must be :password or user:password")
            }
            let user = userinfo[..<colon]
            guard let decodedUser = Self.percentDecode(user), let decodedPassword = Self.percentDecode(userinfo[userinfo.index(after: colon)...])
            else { throw fail("the credentials have an invalid percent-encoding") }
            guard !decodedPassword.isEmpty else { throw fail("the password after \":\" is empty") }
            username = decodedUser.isEmpty ? nil : decodedUser
            password = decodedPassword
        }

        var authority = rest
        var path: Substring = ""
        if let slash = rest.firstIndex(of: "/") {
            authority = rest[..<slash]
            path = rest[rest.index(after: slash)...]
        }

        var host: Substring
        var portText: Substring? = nil
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw fail("the IPv6 address has no closing \"]\"") }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw fail("unexpected \"\(after)\" after the IPv6 address") }
                portText = after.dropFirst()
            }
        } else {
            if authority.filter({ $0 == ":" }).count > 1 { throw fail("an IPv6 address must be in brackets, as in redis://[::1]:6379") }
            host = authority
            if let colon = authority.firstIndex(of: ":") {
                host = authority[..<colon]
                portText = authority[authority.index(after: colon)...]
            }
        }
        guard !host.isEmpty else { throw fail("the host is missing") }
        if host.contains(where: { $0 == " " || $0 == "\t" }) { throw fail("the host \"\(host)\" contains spaces") }

        var port = Self.defaultPort
        if let portText {
            guard let p = Self.decimal(portText), (1...65535).contains(p) else {
                throw fail("the port \"\(portText)\" is not a number from 1 to 65535")
            }
            port = p
        }
        var database = 0
        if !path.isEmpty {
            guard let db = Self.decimal(path) else { throw fail("the database \"/\(path)\" is not a number (as in redis://host:6379/0)") }
            database = db
        }
        self.init(host: String(host), port: port, username: username, password: password, database: database)
    }

    /// `redis://host:port/db`, with `***` in place of the password.
    public var description: String {
        var s = "redis://"
        if password != nil { s += "\(username ?? ""):***@" }
        s += host.contains(":") ? "[\(host)]" : host
        return s + ":\(port)/\(database)"
    }

    // MARK: Helpers

    private static func decimal(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.count <= 9, text.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(text)
    }

    private static func percentDecode(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        var it = Array(text.utf8)[...]
        while let b = it.popFirst() {
            if b == UInt8(ascii: "%") {
                guard it.count >= 2, let hi = hex(it.removeFirst()), let lo = hex(it.removeFirst()) else { return nil }
                bytes.append(hi << 4 | lo)
            } else {
                bytes.append(b)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hex(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return b - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return b - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return b - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// The URL as typed, with any credentials replaced by `***`, for error messages.
    static func redact(_ text: String) -> String {
        guard let schemeEnd = text.firstRange(of: "://"), let at = text[schemeEnd.upperBound...].lastIndex(of: "@") else { return text }
        return String(text[..<schemeEnd.upperBound]) + "***" + String(text[at...])
    }
}

/// A Redis URL that could not be parsed.
public struct RedisURLError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The URL as given, credentials replaced by `***`.
    public let url: String
    public let reason: String

    public var description: String {
        "invalid redis URL \"\(url)\": \(reason); expected redis://[[user]:password@]host[:port][/db], as in redis://:secret@redis.internal:6379/0"
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
            let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        return String(scalars[first...last])
    }
}
