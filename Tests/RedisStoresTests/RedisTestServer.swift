import Runs
import Synchronization
import Testing

@testable import RedisStores

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A private redis-server for one test suite: `--port <free port> --bind 127.0.0.1 --save ""
/// --appendonly no`, run in a temporary directory, stopped (and the directory removed) after the suite.
final class RedisTestServer: Sendable {
    static let executable = "/usr/bin/redis-server"
    static var isAvailable: Bool { access(executable, X_OK) == 0 }
    static let missingMessage = "redis-server is not installed at /usr/bin/redis-server (apt-get install redis-server); the Redis tests are skipped"

    /// The server of the suite being run (set by the `.redisServer` trait).
    @TaskLocal static var current: RedisTestServer?

    let port: Int
    let directory: String
    private let pid = Mutex<pid_t>(0)

    var url: RedisURL { RedisURL(host: "127.0.0.1", port: port) }

    private init(port: Int, directory: String) {
        self.port = port
        self.directory = directory
    }

    static func launch() async throws -> RedisTestServer {
        guard isAvailable else { throw TestServerError(missingMessage) }
        var template = Array("/tmp/super-agent-redis-test-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw TestServerError("mkdtemp failed: errno \(errno)")
        }
        let server = RedisTestServer(port: try freePort(), directory: String(cString: made))
        try await server.start()
        return server
    }

    /// A TCP port nothing listens on now: bind port 0 on 127.0.0.1 and read what the kernel chose.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestServerError("socket failed: errno \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bind(fd, sa, length) == 0 && getsockname(fd, sa, &length) == 0
            }
        }
        guard bound else { throw TestServerError("bind to 127.0.0.1:0 failed: errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Starts redis-server on `port` (again, after `stop`) and waits until it answers PING.
    func start() async throws {
        let args = [
            Self.executable, "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", directory, "--logfile", directory + "/redis.log", "--daemonize", "no",
        ]
        var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        var child: pid_t = 0
        let rc = posix_spawn(&child, Self.executable, &actions, nil, &argv, environ)
        guard rc == 0 else { throw TestServerError("posix_spawn \(Self.executable) failed: \(rc)") }
        pid.withLock { $0 = child }

        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if (try? command("PING")) == .status("PONG") { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        stop()
        throw TestServerError("redis-server on port \(port) did not answer PING within 10 s; see \(directory)/redis.log")
    }

    /// Kills the server at once (SIGKILL: no goodbye to its clients) and reaps it.
    func stop() {
        let child = pid.withLock { p in
            defer { p = 0 }
            return p
        }
        guard child > 0 else { return }
        kill(child, SIGKILL)
        var status: Int32 = 0
        while waitpid(child, &status, 0) == -1 && errno == EINTR {}
    }

    /// Freezes the server (SIGSTOP): connections stay open but nothing answers.
    func pause() { signalServer(SIGSTOP) }

    /// Thaws it (SIGCONT).
    func resume() { signalServer(SIGCONT) }

    private func signalServer(_ signal: Int32) {
        let child = pid.withLock { $0 }
        if child > 0 { kill(child, signal) }
    }

    func removeDirectory() {
        for name in ["redis.log", "dump.rdb"] { unlink(directory + "/" + name) }
        rmdir(directory)
    }

    /// One command on a fresh connection, for looking at Redis from the side.
    func command(_ args: String...) throws -> RedisReply {
        let options = RedisOptions(connectTimeout: .milliseconds(300), commandTimeout: .seconds(1))
        return try RedisConnection.open(url, options: options).command(args)
    }

    /// Live leases on `pod` under `prefix`, by Redis server time.
    func liveLeaseCount(prefix: String, pod: String) throws -> Int {
        let now = try serverMilliseconds()
        return try command("ZCOUNT", prefix + "leases:" + pod, "(\(now)", "+inf").integer ?? -1
    }

    /// The run id Redis has on `pod`'s `slot` (whether or not it expired).
    func runID(prefix: String, pod: String, slot: Int) throws -> String? {
        try command("HGET", prefix + "runs:" + pod, String(slot)).string
    }

    func holder(prefix: String, pod: String, slot: Int) throws -> String? {
        try command("HGET", prefix + "runs:" + pod, "\(slot):holder").string
    }

    /// Whether `pod` is registered and its registration has not expired.
    func podIsLive(prefix: String, pod: String) throws -> Bool {
        let now = try serverMilliseconds()
        guard let score = try command("ZSCORE", prefix + "pods", pod).string, let expiry = Double(score) else { return false }
        return expiry > Double(now)
    }

    func serverMilliseconds() throws -> Int {
        guard let parts = try command("TIME").array, parts.count == 2, let s = parts[0].integer, let us = parts[1].integer else {
            throw TestServerError("TIME gave no answer")
        }
        return s * 1000 + us / 1000
    }
}

struct TestServerError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Runs the suite with its own redis-server (`RedisTestServer.current`), stopped afterwards.
struct RedisServerTrait: SuiteTrait, TestScoping {
    var isRecursive: Bool { false }

    func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        let server = try await RedisTestServer.launch()
        defer {
            server.stop()
            server.removeDirectory()
        }
        try await RedisTestServer.$current.withValue(server) { try await function() }
    }
}

extension Trait where Self == RedisServerTrait {
    /// Its own redis-server for the suite.
    static var redisServer: Self { Self() }
}

/// Short timeouts so the tests stay quick.
let testOptions = RedisOptions(
    connectTimeout: .milliseconds(300), commandTimeout: .milliseconds(700), initialBackoff: .milliseconds(100),
    maxBackoff: .milliseconds(400))

let testTTL = Duration.milliseconds(1500)

/// A key prefix no other test uses.
func uniquePrefix(_ label: String) -> String {
    "test:\(label):\(UInt32.random(in: 0...UInt32.max)):"
}

func currentServer() throws -> RedisTestServer {
    try #require(RedisTestServer.current, "the suite needs the .redisServer trait")
}

func makeRegistry(
    _ server: RedisTestServer, pod: String, slots: Int = 3, prefix: String, ttl: Duration = testTTL
) -> RedisRunRegistry {
    RedisRunRegistry(
        url: server.url, pod: pod, slots: slots, advertiseURL: "http://\(pod).test:8080", leaseTTL: ttl, keyPrefix: prefix,
        retryAfterMs: 250, options: testOptions)
}

/// How long `body` took.
func timed<T>(_ body: () async throws -> T) async rethrows -> (T, Duration) {
    let start = ContinuousClock.now
    let value = try await body()
    return (value, ContinuousClock.now - start)
}

extension Admission {
    var lease: SlotLease? {
        if case .granted(let l) = self { return l }
        return nil
    }
}
