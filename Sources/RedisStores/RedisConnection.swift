import Runs
import CHiredis

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Time limits for talking to Redis, and how fast to retry once it is gone.
///
/// Every hiredis call blocks the calling thread (always a store's own serial queue, never Swift's
/// cooperative pool), so these bound how long a dead or unreachable Redis can hold a call up.
/// Host name resolution is not covered by the connect timeout; prefer addresses or a local resolver.
public struct RedisOptions: Sendable, Equatable {
    public var connectTimeout: Duration
    /// For each command (write and read); a command that times out drops the connection.
    public var commandTimeout: Duration
    /// First wait before reconnecting after Redis was lost; doubled after each failed attempt.
    public var initialBackoff: Duration
    public var maxBackoff: Duration

    public init(
        connectTimeout: Duration = .milliseconds(500), commandTimeout: Duration = .seconds(1),
        initialBackoff: Duration = .milliseconds(200), maxBackoff: Duration = .seconds(5)
    ) {
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
    }
}

/// The default key prefix, so several deployments (or tests) can share one Redis.
public enum RedisDefaults {
    public static let keyPrefix = "super-agent:"
}

/// A reply from Redis (RESP2).
enum RedisReply: Sendable, Equatable {
    case string(String)
    case integer(Int)
    case array([RedisReply])
    case null
    case status(String)
    case error(String)

    var string: String? {
        switch self {
        case .string(let s), .status(let s): return s
        default: return nil
        }
    }

    var integer: Int? {
        switch self {
        case .integer(let i): return i
        case .string(let s): return Int(s)
        default: return nil
        }
    }

    var array: [RedisReply]? {
        if case .array(let a) = self { return a }
        return nil
    }
}

/// Redis could not be reached or answered with an error; the text says which, and names the URL.
struct RedisFailure: Error, Sendable, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Server-side Lua scripts, run with EVALSHA (loaded on first use on each connection).
struct RedisScript: Sendable {
    let name: String
    let source: String
}

/// One blocking hiredis connection. Not thread-safe: each store uses it from its own serial queue only.
final class RedisConnection {
    let url: RedisURL
    private let context: UnsafeMutablePointer<redisContext>
    private var loadedScripts: [String: String] = [:]

    private init(url: RedisURL, context: UnsafeMutablePointer<redisContext>) {
        self.url = url
        self.context = context
    }

    deinit { redisFree(context) }

    /// Connects (bounded by `options.connectTimeout`), sets the command timeout, authenticates and
    /// selects the database.
    static func open(_ url: RedisURL, options: RedisOptions) throws(RedisFailure) -> RedisConnection {
        ignoreSIGPIPE
        guard let ctx = redisConnectWithTimeout(url.host, Int32(url.port), timeval(options.connectTimeout)) else {
            throw RedisFailure("redis at \(url) is unreachable: could not allocate a connection")
        }
        if ctx.pointee.err != 0 {
            let why = String(cString: sa_redis_errstr(ctx))
            redisFree(ctx)
            throw RedisFailure("redis at \(url) is unreachable: \(why)")
        }
        let connection = RedisConnection(url: url, context: ctx)
        guard redisSetTimeout(ctx, timeval(options.commandTimeout)) == REDIS_OK else {
            throw RedisFailure("redis at \(url): could not set the command timeout: \(connection.errorText)")
        }
        _ = redisEnableKeepAlive(ctx)
        if let password = url.password {
            let auth = url.username.map { ["AUTH", $0, password] } ?? ["AUTH", password]
            if case .error(let why) = try connection.command(auth) {
                throw RedisFailure("redis at \(url) refused the credentials: \(why)")
            }
        }
        if url.database != 0, case .error(let why) = try connection.command(["SELECT", String(url.database)]) {
            throw RedisFailure("redis at \(url) refused database \(url.database): \(why)")
        }
        return connection
    }

    /// Sends one command and waits for its reply. An error *reply* is returned as `.error`; a lost
    /// connection or a timeout throws (and this connection must then be dropped).
    func command(_ args: [String]) throws(RedisFailure) -> RedisReply {
        precondition(!args.isEmpty)
        var blob: [UInt8] = []
        var offsets: [Int] = []
        var lengths: [Int] = []
        for arg in args {
            offsets.append(blob.count)
            let before = blob.count
            blob.append(contentsOf: arg.utf8)
            lengths.append(blob.count - before)
            blob.append(0)
        }
        let context = self.context
        let raw: UnsafeMutableRawPointer? = blob.withUnsafeBufferPointer { bytes in
            let base = UnsafeRawPointer(bytes.baseAddress!).assumingMemoryBound(to: CChar.self)
            var argv: [UnsafePointer<CChar>?] = offsets.map { base + $0 }
            return argv.withUnsafeMutableBufferPointer { av in
                lengths.withUnsafeBufferPointer { lv in redisCommandArgv(context, Int32(args.count), av.baseAddress, lv.baseAddress) }
            }
        }
        guard let raw else {
            throw RedisFailure("redis at \(url) is unreachable: \(errorText)")
        }
        defer { freeReplyObject(raw) }
        return Self.convert(raw.assumingMemoryBound(to: redisReply.self))
    }

    /// Runs `script` with EVALSHA, loading it first on this connection (and again after a SCRIPT FLUSH
    /// or a restart). An error reply from the script throws.
    func eval(_ script: RedisScript, _ args: [String]) throws(RedisFailure) -> RedisReply {
        for attempt in 0..<2 {
            let sha: String
            if let known = loadedScripts[script.name] {
                sha = known
            } else {
                let loaded = try command(["SCRIPT", "LOAD", script.source])
                guard case .string(let s) = loaded else {
                    throw RedisFailure("redis at \(url) could not load the \(script.name) script: \(Self.describe(loaded))")
                }
                loadedScripts[script.name] = s
                sha = s
            }
            let reply = try command(["EVALSHA", sha, "0"] + args)
            if case .error(let why) = reply {
                if why.hasPrefix("NOSCRIPT"), attempt == 0 {
                    loadedScripts[script.name] = nil
                    continue
                }
                throw RedisFailure("redis at \(url) failed the \(script.name) script: \(why)")
            }
            return reply
        }
        throw RedisFailure("redis at \(url) kept losing the \(script.name) script")
    }

    private var errorText: String {
        let text = String(cString: sa_redis_errstr(context))
        if !text.isEmpty { return text }
        return context.pointee.err == 0 ? "no reply" : "error \(context.pointee.err)"
    }

    static func describe(_ reply: RedisReply) -> String {
        switch reply {
        case .error(let e): return e
        case .null: return "nil"
        default: return "\(reply)"
        }
    }

    private static func convert(_ reply: UnsafeMutablePointer<redisReply>) -> RedisReply {
        let r = reply.pointee
        func text() -> String {
            guard let str = r.str else { return "" }
            return String(decoding: UnsafeRawBufferPointer(start: str, count: Int(r.len)), as: UTF8.self)
        }
        switch r.type {
        case REDIS_REPLY_STRING: return .string(text())
        case REDIS_REPLY_STATUS: return .status(text())
        case REDIS_REPLY_ERROR: return .error(text())
        case REDIS_REPLY_INTEGER: return .integer(Int(r.integer))
        case REDIS_REPLY_ARRAY:
            var items: [RedisReply] = []
            items.reserveCapacity(Int(r.elements))
            for i in 0..<Int(r.elements) {
                if let element = r.element[i] { items.append(convert(element)) } else { items.append(.null) }
            }
            return .array(items)
        default: return .null
        }
    }

    /// hiredis writes with write(2): a Redis that went away would raise SIGPIPE and kill the process.
    /// The app ignores SIGPIPE already (Signals); this covers tests and other embedders, and leaves an
    /// installed handler alone.
    private static let ignoreSIGPIPE: Void = {
        #if canImport(Glibc)
        var current = sigaction()
        if sigaction(SIGPIPE, nil, &current) == 0, current.__sigaction_handler.sa_handler == nil, current.sa_flags & SA_SIGINFO == 0 {
            signal(SIGPIPE, SIG_IGN)
        }
        #else
        signal(SIGPIPE, SIG_IGN)
        #endif
    }()
}

extension timeval {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self.init()
        tv_sec = .init(max(0, seconds))
        tv_usec = .init(max(0, attoseconds / 1_000_000_000_000))
    }
}
