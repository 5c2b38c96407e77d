import Costs
import Dispatch
import Synchronization

/// The run ledger in a SQLite file (`<state dir>/ledger.sqlite3`), shared by every `super-agent`
/// process on a host: each MCP server's embedded pool and each pool pod append to it, and
/// `super-agent costs` reads it.
///
/// Same discipline as `SQLiteCapacityStore`: writes (which may wait up to the busy timeout while
/// another process writes) run on this ledger's own serial queue, never on the caller's thread;
/// reads use a second, query-only connection on the caller's thread, which in WAL mode never waits
/// for a writer, and fall back to the queue when that connection is missing or fails. The file is
/// opened on first use. One row per run id: recording a run id again replaces its row.
public final class SQLiteLedger: Ledger, @unchecked Sendable {
    public let path: String
    private let queue = DispatchQueue(label: "super-agent.sqlite-ledger")
    /// The write connection. Touched only on `queue`.
    private var database: SQLiteDatabase?
    /// The read connection, opened on `queue` once the write connection has set the file up.
    private let reader = Mutex<LedgerReadConnection?>(nil)

    /// The ledger file in a state directory.
    public static func path(stateDir: String) -> String { stateDir + "/ledger.sqlite3" }

    public init(path: String) {
        self.path = path
    }

    static let columns =
        "run_id, agent, task, adapter, model, tier, rule, status, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd, cost_source, duration_ms, pod, at"
    static let schema = """
        CREATE TABLE IF NOT EXISTS ledger (
            run_id TEXT PRIMARY KEY,
            agent TEXT NOT NULL,
            task TEXT NOT NULL,
            adapter TEXT NOT NULL,
            model TEXT,
            tier TEXT,
            rule TEXT NOT NULL,
            status TEXT NOT NULL,
            input_tokens INTEGER,
            output_tokens INTEGER,
            cache_read_tokens INTEGER,
            cache_write_tokens INTEGER,
            cost_usd REAL,
            cost_source TEXT NOT NULL,
            duration_ms INTEGER NOT NULL,
            pod TEXT,
            at REAL NOT NULL
        );
        CREATE INDEX IF NOT EXISTS ledger_at ON ledger (at);
        CREATE INDEX IF NOT EXISTS ledger_agent_at ON ledger (agent, at);
        """
    private static let upsert = "INSERT OR REPLACE INTO ledger (\(columns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    private static let selectSince = "SELECT \(columns) FROM ledger WHERE at >= ? ORDER BY at, run_id"
    private static let spendSince = "SELECT COALESCE(SUM(cost_usd), 0.0) FROM ledger WHERE agent = ? AND at >= ?"

    public func record(_ entry: LedgerEntry) async throws(LedgerError) {
        let values = Self.values(of: entry)
        try await onQueue { db throws(SQLiteError) in _ = try db.query(Self.upsert, values) }
    }

    public func entries(since: Double) async throws(LedgerError) -> [LedgerEntry] {
        try await read(Self.selectSince, [.double(since)]).compactMap(Self.entry)
    }

    public func spend(agent: String, since: Double) async throws(LedgerError) -> Double {
        try await read(Self.spendSince, [.text(agent), .double(since)]).first?.first?.double ?? 0
    }

    // MARK: - Rows

    static func values(of e: LedgerEntry) -> [SQLiteValue] {
        func int(_ n: Int?) -> SQLiteValue { n.map { .int(Int64($0)) } ?? .null }
        func text(_ s: String?) -> SQLiteValue { s.map { .text($0) } ?? .null }
        return [
            .text(e.runID), .text(e.agent), .text(e.task), .text(e.adapter), text(e.model), text(e.tier?.rawValue),
            .text(e.rule), .text(e.status), int(e.usage.input), int(e.usage.output), int(e.usage.cacheRead),
            int(e.usage.cacheWrite), e.costUSD.map { .double($0) } ?? .null, .text(e.costSource.rawValue),
            .int(Int64(e.durationMs)), text(e.pod), .double(e.time),
        ]
    }

    static func entry(_ row: [SQLiteValue]) -> LedgerEntry? {
        guard row.count == 17, let runID = row[0].text, let agent = row[1].text, let task = row[2].text,
            let adapter = row[3].text, let rule = row[6].text, let status = row[7].text, let at = row[16].double
        else { return nil }
        func int(_ i: Int) -> Int? { row[i].int.map { Int($0) } }
        return LedgerEntry(
            runID: runID, agent: agent, task: task, adapter: adapter, model: row[4].text,
            tier: row[5].text.flatMap(Tier.init(rawValue:)), rule: rule, status: status,
            usage: TokenUsage(input: int(8), output: int(9), cacheRead: int(10), cacheWrite: int(11)),
            costUSD: row[12].double, costSource: row[13].text.flatMap(CostSource.init(rawValue:)) ?? .unknown,
            durationMs: int(14) ?? 0, pod: row[15].text, time: at)
    }

    // MARK: - Connections

    /// A query on the read connection when there is one, else on the queue (which also opens it).
    private func read(_ sql: String, _ values: [SQLiteValue]) async throws(LedgerError) -> [[SQLiteValue]] {
        if let rows = readDirectly(sql, values) { return rows }
        return try await onQueue { db throws(SQLiteError) in
            let rows = try db.query(sql, values)
            self.openReaderIfNeeded()
            return rows
        }
    }

    /// The rows from the read connection, or nil when there is none yet or it failed (it is then
    /// dropped, and the queue answers and reports any error).
    private func readDirectly(_ sql: String, _ values: [SQLiteValue]) -> [[SQLiteValue]]? {
        reader.withLock { connection -> [[SQLiteValue]]? in
            guard let db = connection?.db else { return nil }
            do {
                return try db.query(sql, values)
            } catch {
                connection = nil
                return nil
            }
        }
    }

    /// On `queue`, after the write connection opened: a failure here only means reads keep using the queue.
    private func openReaderIfNeeded() {
        guard reader.withLock({ $0 == nil }) else { return }
        guard let db = try? SQLiteDatabase(path: path, role: .reader) else { return }
        let connection = LedgerReadConnection(db: db)
        reader.withLock { $0 = connection }
    }

    /// Runs `body` on the queue with an open database; a SQLite failure becomes a `LedgerError`
    /// naming the file, and the connection is reopened on the next call.
    private func onQueue<T: Sendable>(_ body: @escaping @Sendable (SQLiteDatabase) throws(SQLiteError) -> T)
        async throws(LedgerError) -> T
    {
        let outcome: Result<T, SQLiteError> = await withCheckedContinuation { continuation in
            queue.async {
                do throws(SQLiteError) {
                    let db = try self.open()
                    continuation.resume(returning: .success(try body(db)))
                } catch {
                    self.database = nil
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        return try outcome.mapError { LedgerError($0.description) }.get()
    }

    private func open() throws(SQLiteError) -> SQLiteDatabase {
        if let database { return database }
        let db = try SQLiteDatabase(path: path)
        try db.execute(Self.schema)
        database = db
        return db
    }
}

/// The read connection, only ever used under `SQLiteLedger.reader`'s lock.
private final class LedgerReadConnection: @unchecked Sendable {
    let db: SQLiteDatabase
    init(db: SQLiteDatabase) { self.db = db }
}
