#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads the process environment and files without Foundation (it keeps start-up fast and small).
public struct Environment: Sendable {
    public let values: [String: String]

    public init(_ values: [String: String]) { self.values = values }

    /// The current process environment.
    public static func current() -> Environment {
        var values: [String: String] = [:]
        var p = environ
        while let entry = p.pointee {
            let s = String(cString: entry)
            if let eq = s.firstIndex(of: "=") {
                values[String(s[..<eq])] = String(s[s.index(after: eq)...])
            }
            p += 1
        }
        return Environment(values)
    }

    public subscript(name: String) -> String? {
        guard let v = values[name], !v.isEmpty else { return nil }
        return v
    }
}

/// Reads a whole file, refusing anything over `limit` bytes.
func readFile(_ path: String, limit: Int = 16 << 20) -> Result<[UInt8], ConfigError> {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return .failure(.unreadable(path: path, reason: String(cString: strerror(errno)))) }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 {
            if errno == EINTR { continue }
            return .failure(.unreadable(path: path, reason: String(cString: strerror(errno))))
        }
        if n == 0 { break }
        bytes.append(contentsOf: chunk[..<n])
        if bytes.count > limit { return .failure(.unreadable(path: path, reason: "larger than \(limit) bytes")) }
    }
    return .success(bytes)
}
