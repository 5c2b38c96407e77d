import Runs
import Costs
import Dispatch
import JSON

/// The run ledger in a Redis stream, `<prefix>ledger`, shared by every process on every host that
/// points at the same Redis (`SUPER_AGENT_REDIS_URL`); without it the ledger is `SQLiteLedger` in
/// the state directory.
///
/// - `record` appends the entry with XADD: field `entry` holds the whole entry as JSON (the only
///   field read back), and `run_id`, `agent` and `time` repeat it for people reading the stream.
/// - Recording a run id again appends again; readers keep the latest record of each run id (stream
///   order), so a re-recorded run replaces its earlier row, as in the SQLite ledger.
/// - `entries(since:)` reads the stream (XRANGE, in pages of `pageSize`) from the stream id for
///   `since - clockSkewAllowance`: stream ids are the Redis server's clock at XADD, entries carry the
///   recording host's clock. Filtering is on the entry's own `time`, after keeping the latest record
///   of each run id. An entry recorded more than `clockSkewAllowance` before its own `time` (a host
///   clock that far ahead of Redis's) is not found by a `since` after that XADD.
/// - The stream is capped at about `maxEntries` records (`XADD MAXLEN ~`): Redis trims the oldest,
///   so reports over all time cover the most recent ~1,000,000 records.
///
/// hiredis calls block, so they run on the ledger's own serial queue, each bounded by `options`'
/// timeouts. A call on a connection that was already open and fails is tried once more on a fresh
/// connection (Redis restarted); a failure drops the connection, and for `initialBackoff` (doubling
/// up to `maxBackoff` while it keeps failing) later calls fail at once with the same error instead
/// of waiting on Redis again. Errors are `LedgerError`s naming the URL, never the password.
public final class RedisLedger: Ledger, @unchecked Sendable {
    public let url: RedisURL
    public let keyPrefix: String
    public let options: RedisOptions

    /// About how many records the stream keeps (`XADD MAXLEN ~`).
    public static let maxEntries = 1_000_000
    /// How far (seconds) a recording host's clock may run ahead of the Redis server's without its
    /// entries being missed by `entries(since:)`.
    public static let clockSkewAllowance: Double = 300
    /// Records per XRANGE.
    static let pageSize = 1000

    private let queue = DispatchQueue(label: "super-agent.redis-ledger")
    // Touched only on `queue`.
    private var connection: RedisConnection?
    private var lastFailure: RedisFailure?
    private var retryAt = ContinuousClock.now
    private var backoffMs: Int

    public init(url: RedisURL, keyPrefix: String = RedisDefaults.keyPrefix, options: RedisOptions = RedisOptions()) {
        self.url = url
        self.keyPrefix = keyPrefix
        self.options = options
        self.backoffMs = max(1, options.initialBackoff.milliseconds)
    }

    /// The stream's key.
    public var key: String { keyPrefix + "ledger" }

    // MARK: Ledger

    public func record(_ entry: LedgerEntry) async throws(LedgerError) {
        let args = [
            "XADD", key, "MAXLEN", "~", String(Self.maxEntries), "*",
            "entry", Self.json(of: entry).text, "run_id", entry.runID, "agent", entry.agent, "time", String(entry.time),
        ]
        let url = self.url
        try await onQueue { connection throws(RedisFailure) -> Result<Void, RedisFailure> in
            let reply = try connection.command(args)
            guard case .string = reply else {
                return .failure(RedisFailure("redis at \(url) refused the ledger entry: \(RedisConnection.describe(reply))"))
            }
            return .success(())
        }
    }

    public func entries(since: Double) async throws(LedgerError) -> [LedgerEntry] {
        try await latestRecords(since: since).compactMap(Self.entry).filter { $0.time >= since }
            .sorted { ($0.time, $0.runID) < ($1.time, $1.runID) }
    }

    public func spend(agent: String, since: Double) async throws(LedgerError) -> Double {
        // Only this agent's records are decoded; the readable `agent` field picks them.
        try await latestRecords(since: since).filter { $0.agent == agent }.compactMap(Self.entry)
            .filter { $0.time >= since && $0.agent == agent }.reduce(0) { $0 + ($1.costUSD ?? 0) }
    }

    // MARK: Reading

    /// One stream record, not decoded yet.
    struct Record: Sendable {
        var runID: String
        var agent: String
        var json: String
    }

    /// The latest record of each run id in the stream from `since`'s stream id (less the allowance).
    private func latestRecords(since: Double) async throws(LedgerError) -> [Record] {
        guard let start = Self.startID(since: since) else { return [] }
        let key = self.key
        let url = self.url
        let records = try await onQueue { connection throws(RedisFailure) in
            try Self.readStream(connection, key: key, from: start, url: url)
        }
        var latest: [String: Int] = [:]
        for (i, r) in records.enumerated() { latest[r.runID] = i }
        return records.indices.filter { latest[records[$0].runID] == $0 }.map { records[$0] }
    }

    /// XRANGE from `start` to the end, a page at a time, in stream order.
    private static func readStream(_ connection: RedisConnection, key: String, from start: String, url: RedisURL)
        throws(RedisFailure) -> Result<[Record], RedisFailure>
    {
        var records: [Record] = []
        var from = start
        while true {
            let reply = try connection.command(["XRANGE", key, from, "+", "COUNT", String(pageSize)])
            guard let page = reply.array else {
                return .failure(RedisFailure("redis at \(url) refused to read the ledger: \(RedisConnection.describe(reply))"))
            }
            let before = from
            for item in page {
                guard let pair = item.array, pair.count == 2, let id = pair[0].string else { continue }
                from = "(" + id
                if let record = record(fields: pair[1].array ?? []) { records.append(record) }
            }
            if page.count < pageSize || from == before { return .success(records) }
        }
    }

    private static func record(fields: [RedisReply]) -> Record? {
        var runID: String?
        var agent: String?
        var json: String?
        var i = 0
        while i + 1 < fields.count {
            defer { i += 2 }
            switch fields[i].string {
            case "run_id": runID = fields[i + 1].string
            case "agent": agent = fields[i + 1].string
            case "entry": json = fields[i + 1].string
            default: break
            }
        }
        guard let runID, let agent, let json else { return nil }
        return Record(runID: runID, agent: agent, json: json)
    }

    /// The XRANGE start for `since`: its stream id less the clock-skew allowance; nil when no entry can match.
    static func startID(since: Double) -> String? {
        if since.isNaN || since == .infinity { return nil }
        let ms = ((since - clockSkewAllowance) * 1000).rounded(.down)
        guard ms > 0 else { return "-" }
        return "\(UInt64(min(ms, 9.0e18)))-0"
    }

    // MARK: Entries as JSON

    static func json(of e: LedgerEntry) -> JSON {
        .object([
            "run_id": .string(e.runID), "agent": .string(e.agent), "task": .string(e.task), "adapter": .string(e.adapter),
            "model": JSON(e.model), "tier": JSON(e.tier?.rawValue), "rule": .string(e.rule), "status": .string(e.status),
            "input_tokens": JSON(e.usage.input), "output_tokens": JSON(e.usage.output),
            "cache_read_tokens": JSON(e.usage.cacheRead), "cache_write_tokens": JSON(e.usage.cacheWrite),
            "cost_usd": JSON(e.costUSD), "cost_source": .string(e.costSource.rawValue), "duration_ms": JSON(e.durationMs),
            "pod": JSON(e.pod), "time": .double(e.time),
        ])
    }

    static func entry(_ record: Record) -> LedgerEntry? {
        guard let json = try? JSON.parse(record.json) else { return nil }
        return entry(json)
    }

    static func entry(_ j: JSON) -> LedgerEntry? {
        guard let runID = j["run_id"]?.stringValue, let agent = j["agent"]?.stringValue, let task = j["task"]?.stringValue,
            let adapter = j["adapter"]?.stringValue, let rule = j["rule"]?.stringValue, let status = j["status"]?.stringValue,
            let time = j["time"]?.numberValue
        else { return nil }
        func int(_ name: String) -> Int? { j[name]?.exactInteger.map { Int($0) } }
        return LedgerEntry(
            runID: runID, agent: agent, task: task, adapter: adapter, model: j["model"]?.stringValue,
            tier: j["tier"]?.stringValue.flatMap(Tier.init(rawValue:)), rule: rule, status: status,
            usage: TokenUsage(input: int("input_tokens"), output: int("output_tokens"), cacheRead: int("cache_read_tokens"), cacheWrite: int("cache_write_tokens")),
            costUSD: j["cost_usd"]?.numberValue, costSource: j["cost_source"]?.stringValue.flatMap(CostSource.init(rawValue:)) ?? .unknown,
            durationMs: int("duration_ms") ?? 0, pod: j["pod"]?.stringValue, time: time)
    }

    // MARK: Connection

    /// Runs `body` on the queue with an open connection (see the type's notes on retries and backoff).
    /// `body` throws when the connection failed, and returns `.failure` when Redis answered with an error.
    private func onQueue<T: Sendable>(
        _ body: @escaping @Sendable (RedisConnection) throws(RedisFailure) -> Result<T, RedisFailure>
    ) async throws(LedgerError) -> T {
        let outcome: Result<T, RedisFailure> = await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: self.perform(body).flatMap { $0 }) }
        }
        return try outcome.mapError { LedgerError($0.description) }.get()
    }

    /// On `queue`.
    private func perform<T>(_ body: (RedisConnection) throws(RedisFailure) -> T) -> Result<T, RedisFailure> {
        if connection == nil, let failure = lastFailure, ContinuousClock.now < retryAt { return .failure(failure) }
        do throws(RedisFailure) {
            let value: T
            if let open = connection {
                do throws(RedisFailure) {
                    value = try body(open)
                } catch {
                    // The connection may have gone stale (Redis restarted): once more on a fresh one.
                    connection = nil
                    value = try body(try connect())
                }
            } else {
                value = try body(try connect())
            }
            lastFailure = nil
            backoffMs = max(1, options.initialBackoff.milliseconds)
            return .success(value)
        } catch {
            connection = nil
            lastFailure = error
            retryAt = .now + .milliseconds(backoffMs)
            backoffMs = min(max(1, options.maxBackoff.milliseconds), backoffMs * 2)
            return .failure(error)
        }
    }

    private func connect() throws(RedisFailure) -> RedisConnection {
        let fresh = try RedisConnection.open(url, options: options)
        connection = fresh
        return fresh
    }
}
