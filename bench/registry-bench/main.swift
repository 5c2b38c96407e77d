// registry-bench: acquire+release throughput of the Redis-backed RunRegistry under concurrent
// clients, with a continuous over-admission check; the in-process LocalRunRegistry as context.
//
//   registry-bench --redis-url redis://127.0.0.1:6379/0 [--clients 32] [--pods 3] [--slots 3]
//                  [--seconds 5] [--hold-ms 0] [--warmup 0.5] [--sample-ms 1] [--no-local]
//
// `pods` RedisRunRegistry instances (p0..pN-1) share one Redis under a key prefix unique to the run.
// `clients` tasks loop: acquire through a pod (round-robin), and when granted hold `hold-ms` and
// release through the same registry (the lease's holder, also for a lease it took on a peer).
//
// Over-admission, checked all the time:
// - bench side: per pod (the pod a lease names) an atomic count of leases held, incremented after a
//   grant returns and decremented before its release is sent, plus a taken flag per (pod, slot). The
//   interval the bench counts a lease in lies inside the interval Redis holds it, so these counts
//   never exceed the true ones: a pod count > slots, a total > pods x slots, a slot granted while the
//   bench still holds it, or a lease naming an unknown pod or slot is a real over-admission.
// - Redis side: a sampler reads every pod's live leases (score > server time) in one atomic EVAL,
//   every `sample-ms`; a pod with more than `slots` live leases, a total above pods x slots, or a slot
//   outside 0..<slots is an over-admission.
// - The registries' health is polled; a pod that leaves `.shared` (Redis unreachable: it serves its
//   own slots only) makes the run invalid.
//
// Output: a readable summary, then the whole result as one line of JSON (the last line of stdout).
// Exit status 1 when there was any over-admission, a leaked lease or an invalid run; 2 on bad usage.

import Dispatch
import RedisStores
import Runs
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: Options

struct Options {
    var redisURL = "redis://127.0.0.1:6379/0"
    var clients = 32
    var pods = 3
    var slots = 3
    var seconds = 5.0
    var holdMs = 0.0
    var warmupSeconds = 0.5
    var sampleMs = 1.0
    var local = true
    var redis = true

    static let usage = """
        usage: registry-bench [--redis-url URL] [--clients 32] [--pods 3] [--slots 3] [--seconds 5]
                              [--hold-ms 0] [--warmup 0.5] [--sample-ms 1] [--no-local] [--no-redis]
        """

    static func parse(_ arguments: [String]) -> Options {
        var o = Options()
        var i = 0
        func fail(_ why: String) -> Never {
            printErr("registry-bench: \(why)\n\(usage)")
            exit(2)
        }
        while i < arguments.count {
            var name = arguments[i]
            var value: String? = nil
            if let eq = name.firstIndex(of: "="), name.hasPrefix("--") {
                value = String(name[name.index(after: eq)...])
                name = String(name[..<eq])
            }
            func next() -> String {
                if let value { return value }
                i += 1
                guard i < arguments.count else { fail("\(name) needs a value") }
                return arguments[i]
            }
            func int(_ min: Int) -> Int {
                let text = next()
                guard let v = Int(text), v >= min else { fail("\(name) must be an integer >= \(min), not \"\(text)\"") }
                return v
            }
            func double(_ min: Double) -> Double {
                let text = next()
                guard let v = Double(text), v >= min, v.isFinite else { fail("\(name) must be a number >= \(min), not \"\(text)\"") }
                return v
            }
            switch name {
            case "--redis-url": o.redisURL = next()
            case "--clients": o.clients = int(1)
            case "--pods": o.pods = int(1)
            case "--slots": o.slots = int(1)
            case "--seconds": o.seconds = double(0.01)
            case "--hold-ms": o.holdMs = double(0)
            case "--warmup": o.warmupSeconds = double(0)
            case "--sample-ms": o.sampleMs = double(0)
            case "--no-local": o.local = false
            case "--no-redis": o.redis = false
            case "-h", "--help":
                print(usage)
                exit(0)
            default: fail("unknown argument \"\(name)\"")
            }
            i += 1
        }
        return o
    }
}

func printErr(_ text: String) {
    let line = text.hasSuffix("\n") ? text : text + "\n"
    _ = line.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
}

extension Duration {
    var nanoseconds: Int64 { components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000 }
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

// MARK: The bench-side over-admission check

final class Counter: Sendable {
    let value = Atomic<Int>(0)

    /// Raises the value to at least `v`.
    func raise(to v: Int) {
        var current = value.load(ordering: .relaxed)
        while v > current {
            let (exchanged, original) = value.compareExchange(expected: current, desired: v, ordering: .relaxed)
            if exchanged { return }
            current = original
        }
    }
}

/// Counts the leases the bench holds per pod and per slot, from just after a grant to just before
/// its release, and records every moment a count goes past what the registry may hand out.
final class AdmissionChecker: Sendable {
    let pods: [String]
    let slots: Int
    private let held: [Counter]
    private let heldMax: [Counter]
    private let total = Counter()
    let totalMax = Counter()
    /// 1 while the bench holds (pod, slot); pod-major.
    private let taken: [Counter]
    let overAdmissions = Counter()
    private let problems = Mutex<[String]>([])

    init(pods: [String], slots: Int) {
        self.pods = pods
        self.slots = slots
        held = pods.map { _ in Counter() }
        heldMax = pods.map { _ in Counter() }
        taken = (0..<(pods.count * slots)).map { _ in Counter() }
    }

    var maxHeldPerPod: [Int] { heldMax.map { $0.value.load(ordering: .relaxed) } }
    var currentTotal: Int { total.value.load(ordering: .relaxed) }

    func violation(_ what: String) {
        overAdmissions.value.add(1, ordering: .relaxed)
        problems.withLock { if $0.count < 20 { $0.append(what) } }
    }

    var firstProblems: [String] { problems.withLock { $0 } }

    private func index(_ lease: SlotLease) -> Int? { pods.firstIndex(of: lease.pod) }

    /// Just after `lease` was granted.
    func granted(_ lease: SlotLease) {
        guard let p = index(lease) else { return violation("granted a lease on unknown pod \(lease.pod)") }
        guard (0..<slots).contains(lease.slot) else { return violation("granted slot \(lease.slot) on \(lease.pod), outside 0..<\(slots)") }
        if !taken[p * slots + lease.slot].value.compareExchange(expected: 0, desired: 1, ordering: .acquiringAndReleasing).exchanged {
            violation("granted slot \(lease.slot) on \(lease.pod) while another client held it")
        }
        let n = held[p].value.add(1, ordering: .acquiringAndReleasing).newValue
        heldMax[p].raise(to: n)
        if n > slots { violation("\(n) leases held on \(lease.pod) with \(slots) slots") }
        let t = total.value.add(1, ordering: .acquiringAndReleasing).newValue
        totalMax.raise(to: t)
        if t > pods.count * slots { violation("\(t) leases held in all with \(pods.count) x \(slots) slots") }
    }

    /// Just before `lease` is released.
    func releasing(_ lease: SlotLease) {
        guard let p = index(lease), (0..<slots).contains(lease.slot) else { return }
        total.value.subtract(1, ordering: .acquiringAndReleasing)
        held[p].value.subtract(1, ordering: .acquiringAndReleasing)
        taken[p * slots + lease.slot].value.store(0, ordering: .releasing)
    }
}

// MARK: The client loop

struct ClientStats: Sendable {
    var granted = 0
    var full = 0
    var releases = 0
    /// Grants naming a pod other than the one asked (that pod was full; a peer had room).
    var forwarded = 0
    var acquireNs: [Int64] = []
    var releaseNs: [Int64] = []

    mutating func merge(_ o: ClientStats) {
        granted += o.granted
        full += o.full
        releases += o.releases
        forwarded += o.forwarded
        acquireNs += o.acquireNs
        releaseNs += o.releaseNs
    }
}

func clientLoop<R: RunRegistry>(
    client: Int, registries: [R], podIDs: [String], checker: AdmissionChecker, holdMs: Double,
    until deadline: ContinuousClock.Instant, label: String
) async -> ClientStats {
    let clock = ContinuousClock()
    var stats = ClientStats()
    stats.acquireNs.reserveCapacity(1 << 14)
    stats.releaseNs.reserveCapacity(1 << 14)
    var next = client % registries.count
    var n = 0
    while clock.now < deadline {
        let r = next
        next = (next + 1) % registries.count
        n += 1
        let runID = "\(label)-c\(client)-\(n)"
        let t0 = clock.now
        let admission = await registries[r].acquire(runID: runID)
        let t1 = clock.now
        stats.acquireNs.append((t1 - t0).nanoseconds)
        switch admission {
        case .full:
            stats.full += 1
        case .granted(let lease):
            stats.granted += 1
            if lease.pod != podIDs[r] { stats.forwarded += 1 }
            if lease.runID != runID { checker.violation("granted a lease for \(lease.runID) to \(runID)") }
            checker.granted(lease)
            if holdMs > 0 { try? await Task.sleep(for: .microseconds(Int64(holdMs * 1000))) }
            checker.releasing(lease)
            let t2 = clock.now
            await registries[r].release(lease)
            stats.releaseNs.append((clock.now - t2).nanoseconds)
            stats.releases += 1
        }
    }
    return stats
}

struct PhaseResult {
    var stats: ClientStats
    var elapsed: Double
    var ops: Int { stats.granted + stats.full + stats.releases }
    var opsPerSecond: Double { Double(ops) / elapsed }
}

func runPhase<R: RunRegistry>(
    registries: [R], podIDs: [String], checker: AdmissionChecker, options: Options, seconds: Double, label: String
) async -> PhaseResult {
    let clock = ContinuousClock()
    let start = clock.now
    let deadline = start + .microseconds(Int64(seconds * 1_000_000))
    let stats = await withTaskGroup(of: ClientStats.self) { group in
        for c in 0..<options.clients {
            group.addTask {
                await clientLoop(
                    client: c, registries: registries, podIDs: podIDs, checker: checker, holdMs: options.holdMs,
                    until: deadline, label: label)
            }
        }
        var all = ClientStats()
        for await s in group { all.merge(s) }
        return all
    }
    return PhaseResult(stats: stats, elapsed: (clock.now - start).seconds)
}

// MARK: A minimal blocking RESP client (the sampler's own connection; RedisConnection is internal)

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

enum Resp {
    case simple(String)
    case error(String)
    case integer(Int)
    case bulk(String?)
    case array([Resp]?)

    var integer: Int? {
        if case .integer(let i) = self { return i }
        if case .bulk(let s?) = self { return Int(s) }
        return nil
    }
    var array: [Resp]? { if case .array(let a?) = self { return a }; return nil }
    var string: String? {
        switch self {
        case .simple(let s), .bulk(let s?): return s
        default: return nil
        }
    }
}

final class RespClient {
    private let fd: Int32
    private var buffer: [UInt8] = []
    private var position = 0

    init(_ url: RedisURL) throws {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>? = nil
        guard getaddrinfo(url.host, String(url.port), &hints, &list) == 0, let list else {
            throw BenchError("cannot resolve \(url.host)")
        }
        defer { freeaddrinfo(list) }
        var fd: Int32 = -1
        var ai: UnsafeMutablePointer<addrinfo>? = list
        while let a = ai {
            let s = socket(a.pointee.ai_family, a.pointee.ai_socktype, a.pointee.ai_protocol)
            if s >= 0 {
                if connect(s, a.pointee.ai_addr, a.pointee.ai_addrlen) == 0 {
                    fd = s
                    break
                }
                close(s)
            }
            ai = a.pointee.ai_next
        }
        guard fd >= 0 else { throw BenchError("cannot connect to \(url)") }
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        self.fd = fd
        if let password = url.password {
            let reply = try command(url.username.map { ["AUTH", $0, password] } ?? ["AUTH", password])
            if case .error(let e) = reply { throw BenchError("AUTH failed: \(e)") }
        }
        if url.database != 0 {
            let reply = try command(["SELECT", String(url.database)])
            if case .error(let e) = reply { throw BenchError("SELECT failed: \(e)") }
        }
    }

    deinit { close(fd) }

    func command(_ args: [String]) throws -> Resp {
        var out: [UInt8] = Array("*\(args.count)\r\n".utf8)
        for a in args {
            out += Array("$\(a.utf8.count)\r\n".utf8)
            out += Array(a.utf8)
            out += [13, 10]
        }
        var sent = 0
        while sent < out.count {
            let n = out[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { throw BenchError("send to redis failed (errno \(errno))") }
            sent += n
        }
        return try read()
    }

    private func fill() throws {
        if position > 0 && position == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            position = 0
        }
        var chunk = [UInt8](repeating: 0, count: 16384)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { throw BenchError("redis closed the connection") }
        buffer += chunk[..<n]
    }

    private func line() throws -> String {
        while true {
            if let cr = buffer[position...].firstIndex(of: 13), cr + 1 < buffer.count, buffer[cr + 1] == 10 {
                let s = String(decoding: buffer[position..<cr], as: UTF8.self)
                position = cr + 2
                return s
            }
            try fill()
        }
    }

    private func read() throws -> Resp {
        let l = try line()
        guard let kind = l.first else { throw BenchError("empty reply line") }
        let rest = String(l.dropFirst())
        switch kind {
        case "+": return .simple(rest)
        case "-": return .error(rest)
        case ":": return .integer(Int(rest) ?? 0)
        case "$":
            guard let n = Int(rest) else { throw BenchError("bad bulk length \(rest)") }
            if n < 0 { return .bulk(nil) }
            while buffer.count - position < n + 2 { try fill() }
            let s = String(decoding: buffer[position..<(position + n)], as: UTF8.self)
            position += n + 2
            return .bulk(s)
        case "*":
            guard let n = Int(rest) else { throw BenchError("bad array length \(rest)") }
            if n < 0 { return .array(nil) }
            var items: [Resp] = []
            items.reserveCapacity(n)
            for _ in 0..<n { items.append(try read()) }
            return .array(items)
        default: throw BenchError("unexpected reply \(l)")
        }
    }
}

// MARK: The Redis-side sampler

/// Every pod's live leases (score > Redis server time, in ms), all read in one atomic script.
let sampleScript = """
    local t = redis.call('TIME')
    local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    local out = {}
    for i = 2, #ARGV do
      out[#out + 1] = redis.call('ZRANGEBYSCORE', ARGV[1] .. 'leases:' .. ARGV[i], '(' .. now, '+inf')
    end
    return out
    """

struct SamplerResult: Sendable {
    var samples = 0
    var maxPerPod: [Int]
    var maxTotal = 0
    var overAdmissions = 0
    var problems: [String] = []
    var error: String? = nil
}

/// Reads the live leases per pod from Redis on its own thread until stopped.
final class RedisSampler: @unchecked Sendable {
    private let client: RespClient
    private let prefix: String
    private let pods: [String]
    private let slots: Int
    private let intervalUs: UInt32
    private let stopFlag = Atomic<Bool>(false)
    private let queue = DispatchQueue(label: "registry-bench.sampler")
    // Touched only on `queue` (and after it finished).
    private var result: SamplerResult

    init(url: RedisURL, prefix: String, pods: [String], slots: Int, intervalMs: Double) throws {
        client = try RespClient(url)
        self.prefix = prefix
        self.pods = pods
        self.slots = slots
        intervalUs = UInt32(max(0, intervalMs * 1000))
        result = SamplerResult(maxPerPod: pods.map { _ in 0 })
    }

    /// One atomic snapshot: the live slot numbers per pod.
    func snapshot() throws -> [[String]] {
        let reply = try client.command(["EVAL", sampleScript, "0", prefix] + pods)
        if case .error(let e) = reply { throw BenchError("sample script: \(e)") }
        guard let perPod = reply.array, perPod.count == pods.count else { throw BenchError("sample script answered \(reply)") }
        return perPod.map { ($0.array ?? []).compactMap(\.string) }
    }

    private func check(_ snap: [[String]]) {
        result.samples += 1
        var total = 0
        for (p, live) in snap.enumerated() {
            total += live.count
            result.maxPerPod[p] = max(result.maxPerPod[p], live.count)
            if live.count > slots { problem("redis: \(live.count) live leases on \(pods[p]) with \(slots) slots: \(live)") }
            for s in live where !(Int(s).map { (0..<slots).contains($0) } ?? false) {
                problem("redis: live lease on slot \(s) of \(pods[p]), outside 0..<\(slots)")
            }
        }
        result.maxTotal = max(result.maxTotal, total)
        if total > pods.count * slots { problem("redis: \(total) live leases in all with \(pods.count) x \(slots) slots") }
    }

    private func problem(_ what: String) {
        result.overAdmissions += 1
        if result.problems.count < 20 { result.problems.append(what) }
    }

    /// Samples until `stop()`; returns when stopped.
    func run() async -> SamplerResult {
        await withCheckedContinuation { (c: CheckedContinuation<SamplerResult, Never>) in
            queue.async {
                while !self.stopFlag.load(ordering: .acquiring) {
                    do {
                        self.check(try self.snapshot())
                    } catch {
                        self.result.error = "\(error)"
                        break
                    }
                    if self.intervalUs > 0 { usleep(self.intervalUs) }
                }
                c.resume(returning: self.result)
            }
        }
    }

    func stop() { stopFlag.store(true, ordering: .releasing) }

    /// After the sampler stopped: live leases left in Redis.
    func leftOver() -> Int? {
        queue.sync { (try? snapshot())?.reduce(0) { $0 + $1.count } }
    }

    /// Deletes the run's keys (the registries deregistered and released already).
    func cleanUp() {
        queue.sync {
            var keys = [prefix + "pods"]
            for p in pods { keys += [prefix + "pod:" + p, prefix + "leases:" + p, prefix + "runs:" + p] }
            _ = try? client.command(["DEL"] + keys)
        }
    }
}

/// Polls the registries' health; any pod out of `.shared` makes the run invalid.
func watchHealth(_ registries: [RedisRunRegistry], stop: Counter) async -> [String] {
    var seen: [String] = []
    while stop.value.load(ordering: .relaxed) == 0 {
        for r in registries {
            let h = await r.health()
            if h.mode != .shared, seen.count < 20 { seen.append("\(r.pod): \(h.mode.rawValue): \(h.detail)") }
        }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return seen
}

// MARK: Reporting

func percentile(_ sorted: [Int64], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    let rank = Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1
    return Double(sorted[min(max(rank, 0), sorted.count - 1)]) / 1000  // µs
}

/// `v` with exactly `digits` decimals (no Foundation here).
func fmt(_ v: Double, _ digits: Int = 1) -> String {
    guard v.isFinite else { return "\(v)" }
    var scale = 1
    for _ in 0..<digits { scale *= 10 }
    let n = Int((abs(v) * Double(scale)).rounded())
    var s = String(n / scale)
    if digits > 0 {
        let frac = String(n % scale)
        s += "." + String(repeating: "0", count: digits - frac.count) + frac
    }
    return (v < 0 && n != 0 ? "-" : "") + s
}

func grouped(_ n: Int) -> String {
    let s = String(n)
    var out = ""
    for (i, ch) in s.reversed().enumerated() {
        if i > 0 && i % 3 == 0 && ch != "-" { out.append(",") }
        out.append(ch)
    }
    return String(out.reversed())
}

func jsonString(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if u.value < 0x20 {
                let h = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
            } else {
                out.unicodeScalars.append(u)
            }
        }
    }
    return out + "\""
}

func jsonNumber(_ v: Double) -> String { v.isFinite ? fmt(v, 3) : "null" }

struct Report {
    var name: String
    var pods: Int
    var slots: Int
    var phase: PhaseResult
    var benchOver: Int
    var benchProblems: [String]
    var maxHeldPerPod: [Int]
    var maxHeldTotal: Int
    var sampler: SamplerResult?
    var leftOver: Int?
    var healthProblems: [String]

    var overAdmissions: Int { benchOver + (sampler?.overAdmissions ?? 0) }
    var valid: Bool { healthProblems.isEmpty && sampler?.error == nil }
    var acquireSorted: [Int64] { phase.stats.acquireNs.sorted() }
    var releaseSorted: [Int64] { phase.stats.releaseNs.sorted() }

    func json() -> String {
        let s = phase.stats
        let a = acquireSorted
        let r = releaseSorted
        var fields: [String] = [
            "\"registry\":\(jsonString(name))",
            "\"pods\":\(pods)", "\"slots_per_pod\":\(slots)",
            "\"seconds\":\(jsonNumber(phase.elapsed))",
            "\"ops\":\(phase.ops)", "\"ops_per_s\":\(jsonNumber(phase.opsPerSecond))",
            "\"acquires\":\(s.granted + s.full)", "\"granted\":\(s.granted)", "\"full\":\(s.full)",
            "\"releases\":\(s.releases)", "\"forwarded_grants\":\(s.forwarded)",
            "\"acquire_us\":{\"p50\":\(jsonNumber(percentile(a, 50))),\"p99\":\(jsonNumber(percentile(a, 99))),\"max\":\(jsonNumber(percentile(a, 100)))}",
            "\"release_us\":{\"p50\":\(jsonNumber(percentile(r, 50))),\"p99\":\(jsonNumber(percentile(r, 99))),\"max\":\(jsonNumber(percentile(r, 100)))}",
            "\"over_admissions\":\(overAdmissions)",
            "\"bench_side\":{\"over_admissions\":\(benchOver),\"max_held_per_pod\":[\(maxHeldPerPod.map(String.init).joined(separator: ","))],\"max_held_total\":\(maxHeldTotal)}",
        ]
        if let sp = sampler {
            fields.append(
                "\"redis_side\":{\"samples\":\(sp.samples),\"over_admissions\":\(sp.overAdmissions),\"max_live_per_pod\":[\(sp.maxPerPod.map(String.init).joined(separator: ","))],\"max_live_total\":\(sp.maxTotal),\"error\":\(sp.error.map(jsonString) ?? "null")}"
            )
        }
        fields.append("\"leases_left_in_redis\":\(leftOver.map(String.init) ?? "null")")
        fields.append("\"valid\":\(valid)")
        let problems = benchProblems + (sampler?.problems ?? []) + healthProblems
        fields.append("\"problems\":[\(problems.map(jsonString).joined(separator: ","))]")
        return "{" + fields.joined(separator: ",") + "}"
    }

    func summary() -> String {
        let s = phase.stats
        let a = acquireSorted
        var lines = [
            "\(name) (\(pods) pod\(pods == 1 ? "" : "s") x \(slots) slots):",
            "  \(grouped(Int(phase.opsPerSecond.rounded()))) ops/s (acquire+release): \(grouped(phase.ops)) ops in \(fmt(phase.elapsed, 2)) s",
            "  acquires: \(grouped(s.granted + s.full)) = \(grouped(s.granted)) granted + \(grouped(s.full)) full"
                + (pods > 1 ? "; \(grouped(s.forwarded)) grants on a peer pod" : ""),
            "  acquire latency p50 \(fmt(percentile(a, 50))) µs, p99 \(fmt(percentile(a, 99))) µs, max \(fmt(percentile(a, 100))) µs",
            "  over-admissions: \(overAdmissions) (bench side \(benchOver), max held per pod \(maxHeldPerPod), max total \(maxHeldTotal))",
        ]
        if let sp = sampler {
            lines.append(
                "  redis side: \(grouped(sp.samples)) samples, \(sp.overAdmissions) over-admissions, max live per pod \(sp.maxPerPod), max total \(sp.maxTotal)"
                    + (sp.error.map { "; sampler error: \($0)" } ?? ""))
        }
        if let leftOver { lines.append("  leases left \(sampler == nil ? "in the registry" : "live in redis") after the run: \(leftOver)") }
        if !healthProblems.isEmpty { lines.append("  INVALID: a pod left .shared: \(healthProblems[0])") }
        for p in (benchProblems + (sampler?.problems ?? [])).prefix(5) { lines.append("  ! \(p)") }
        return lines.joined(separator: "\n")
    }
}

// MARK: The runs

func benchRedis(_ o: Options, url: RedisURL) async throws -> Report {
    var rng = SystemRandomNumberGenerator()
    let prefix = "registry-bench:\(getpid())-\(String(rng.next() & 0xFFFF_FFFF, radix: 16)):"
    let podIDs = (0..<o.pods).map { "p\($0)" }
    let registries = podIDs.map {
        RedisRunRegistry(url: url, pod: $0, slots: o.slots, keyPrefix: prefix)
    }
    // Connected and registered, and every pod sees every other.
    for _ in 0..<2 {
        for r in registries { _ = await r.refresh() }
    }
    for r in registries {
        let h = await r.health()
        guard h.mode == .shared, h.livePods == o.pods else {
            for r in registries { await r.shutdown() }
            throw BenchError("pod \(r.pod) is \(h.mode.rawValue) with \(h.livePods) live pods: \(h.detail)")
        }
    }
    let sampler = try RedisSampler(url: url, prefix: prefix, pods: podIDs, slots: o.slots, intervalMs: o.sampleMs)
    let checker = AdmissionChecker(pods: podIDs, slots: o.slots)
    let stopHealth = Counter()
    async let samplerDone = sampler.run()
    async let healthDone = watchHealth(registries, stop: stopHealth)

    if o.warmupSeconds > 0 {
        _ = await runPhase(registries: registries, podIDs: podIDs, checker: checker, options: o, seconds: o.warmupSeconds, label: "w")
    }
    let phase = await runPhase(registries: registries, podIDs: podIDs, checker: checker, options: o, seconds: o.seconds, label: "r")

    sampler.stop()
    stopHealth.value.store(1, ordering: .relaxed)
    let samplerResult = await samplerDone
    let healthProblems = await healthDone
    let leftOver = sampler.leftOver()
    for r in registries { await r.shutdown() }
    sampler.cleanUp()
    if checker.currentTotal != 0 { checker.violation("bench still counts \(checker.currentTotal) held leases after the run") }
    return Report(
        name: "redis", pods: o.pods, slots: o.slots, phase: phase,
        benchOver: checker.overAdmissions.value.load(ordering: .relaxed), benchProblems: checker.firstProblems,
        maxHeldPerPod: checker.maxHeldPerPod, maxHeldTotal: checker.totalMax.value.load(ordering: .relaxed),
        sampler: samplerResult, leftOver: leftOver, healthProblems: healthProblems)
}

func benchLocal(_ o: Options) async -> Report {
    let registry = LocalRunRegistry(slots: o.slots, pod: "local")
    let checker = AdmissionChecker(pods: ["local"], slots: o.slots)
    if o.warmupSeconds > 0 {
        _ = await runPhase(registries: [registry], podIDs: ["local"], checker: checker, options: o, seconds: o.warmupSeconds, label: "w")
    }
    let phase = await runPhase(registries: [registry], podIDs: ["local"], checker: checker, options: o, seconds: o.seconds, label: "r")
    let left = await registry.leases().count
    if checker.currentTotal != 0 { checker.violation("bench still counts \(checker.currentTotal) held leases after the run") }
    return Report(
        name: "local", pods: 1, slots: o.slots, phase: phase,
        benchOver: checker.overAdmissions.value.load(ordering: .relaxed), benchProblems: checker.firstProblems,
        maxHeldPerPod: checker.maxHeldPerPod, maxHeldTotal: checker.totalMax.value.load(ordering: .relaxed),
        sampler: nil, leftOver: left, healthProblems: [])
}

func runBench() async -> Int32 {
    signal(SIGPIPE, SIG_IGN)  // a dropped sampler connection is an error, not a kill
    let o = Options.parse(Array(CommandLine.arguments.dropFirst()))
    let url: RedisURL
    do {
        url = try RedisURL(parsing: o.redisURL)
    } catch {
        printErr("registry-bench: \(error)")
        return 2
    }
    var redis: Report? = nil
    var local: Report? = nil
    if o.redis {
        do {
            redis = try await benchRedis(o, url: url)
        } catch {
            printErr("registry-bench: \(error)")
            return 2
        }
    }
    if o.local { local = await benchLocal(o) }

    var out: [String] = []
    if let redis, let local {
        let x = redis.phase.opsPerSecond / local.phase.opsPerSecond
        out.append(
            "redis vs local: \(fmt(x, 3))x the ops/s (1/\(fmt(1 / x, 1))): \(grouped(Int(redis.phase.opsPerSecond.rounded()))) vs \(grouped(Int(local.phase.opsPerSecond.rounded()))) acquire+release/s; over-admissions \(redis.overAdmissions) / \(local.overAdmissions)"
        )
    }
    out.append(
        "clients \(o.clients), pods \(o.pods), slots \(o.slots) per pod, \(fmt(o.seconds, 2)) s, hold \(fmt(o.holdMs, 3)) ms, warm-up \(fmt(o.warmupSeconds, 2)) s, redis \(url)"
    )
    for r in [redis, local].compactMap({ $0 }) { out.append(r.summary()) }
    print(out.joined(separator: "\n"))

    var json = [
        "\"clients\":\(o.clients)", "\"pods\":\(o.pods)", "\"slots\":\(o.slots)", "\"seconds\":\(jsonNumber(o.seconds))",
        "\"hold_ms\":\(jsonNumber(o.holdMs))", "\"warmup_s\":\(jsonNumber(o.warmupSeconds))", "\"sample_ms\":\(jsonNumber(o.sampleMs))",
        "\"redis_url\":\(jsonString(url.description))",
    ]
    if let redis { json.append("\"redis\":\(redis.json())") }
    if let local { json.append("\"local\":\(local.json())") }
    if let redis, let local { json.append("\"redis_vs_local\":\(jsonNumber(redis.phase.opsPerSecond / local.phase.opsPerSecond))") }
    let over = (redis?.overAdmissions ?? 0) + (local?.overAdmissions ?? 0)
    let leaked = (redis?.leftOver ?? 0) + (local?.leftOver ?? 0)
    let valid = (redis?.valid ?? true) && (local?.valid ?? true)
    json.append("\"over_admissions\":\(over)")
    json.append("\"ok\":\(over == 0 && leaked == 0 && valid)")
    print("{" + json.joined(separator: ",") + "}")
    return over == 0 && leaked == 0 && valid ? 0 : 1
}

exit(await runBench())
