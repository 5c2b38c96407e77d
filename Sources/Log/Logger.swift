import JSON
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Severity, with the eight syslog levels MCP uses (RFC 5424), lowest first.
public enum LogLevel: String, Sendable, CaseIterable, Comparable {
    case debug, info, notice, warning, error, critical, alert, emergency

    private var rank: Int { Self.allCases.firstIndex(of: self)! }
    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rank < b.rank }
}

/// A structured logger writing one JSON object a line (`ts`, `level`, `message`, `fields`).
///
/// Writes are whole lines under a lock, so concurrent tasks never interleave. It never writes to
/// stdout, which belongs to the protocol. Do not pass secrets or full prompts as fields.
public final class Logger: Sendable {
    private let minimum: Mutex<LogLevel>
    private let fd: Int32
    private let lock = Mutex(())

    /// A logger writing to `fd` (stderr by default) at `level` and above.
    public init(level: LogLevel = .info, fd: Int32 = 2) {
        self.minimum = Mutex(level)
        self.fd = fd
    }

    /// A logger that discards everything, for tests and benchmarks.
    public static let discard = Logger(level: .emergency, fd: -1)

    public var level: LogLevel {
        get { minimum.withLock { $0 } }
        set { minimum.withLock { $0 = newValue } }
    }

    public func isEnabled(_ level: LogLevel) -> Bool { fd >= 0 && level >= self.level }

    public func log(_ level: LogLevel, _ message: String, _ fields: JSONObject = JSONObject()) {
        guard isEnabled(level) else { return }
        var entry = JSONObject()
        entry["ts"] = .string(Self.timestamp())
        entry["level"] = .string(level.rawValue)
        entry["message"] = .string(message)
        if !fields.isEmpty { entry["fields"] = .object(fields) }
        var line = Array(JSON.object(entry).text.utf8)
        line.append(0x0A)
        lock.withLock { _ in
            _ = line.withUnsafeBytes { DescriptorIO.writeWhole(fd, $0) }
        }
    }

    public func debug(_ message: String, _ fields: JSONObject = JSONObject()) { log(.debug, message, fields) }
    public func info(_ message: String, _ fields: JSONObject = JSONObject()) { log(.info, message, fields) }
    public func warning(_ message: String, _ fields: JSONObject = JSONObject()) { log(.warning, message, fields) }
    public func error(_ message: String, _ fields: JSONObject = JSONObject()) { log(.error, message, fields) }

    /// RFC 3339 UTC with milliseconds, without Foundation.
    static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var t = ts.tv_sec
        var tm = tm()
        gmtime_r(&t, &tm)
        func pad(_ v: Int32, _ w: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, w - s.count)) + s
        }
        return "\(pad(tm.tm_year + 1900, 4))-\(pad(tm.tm_mon + 1, 2))-\(pad(tm.tm_mday, 2))T"
            + "\(pad(tm.tm_hour, 2)):\(pad(tm.tm_min, 2)):\(pad(tm.tm_sec, 2)).\(pad(Int32(ts.tv_nsec / 1_000_000), 3))Z"
    }
}
