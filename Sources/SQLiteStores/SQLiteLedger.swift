import Costs

/// The run ledger in a SQLite file (`<state dir>/ledger.sqlite3`), shared by every `super-agent`
/// process on a host: each MCP server's embedded pool and each pool pod append to it, and
/// `super-agent costs` reads it.
///
/// Writes go through the ledger's own queue and reads through a query-only connection, as
/// `SQLiteConnections` describes. One row per run id: recording a run id again replaces its row.
public final class SQLiteLedger: Ledger, Sendable {
    public var path: String { connections.path }
    private let connections: SQLiteConnections

    /// The ledger file in a state directory.
    public static func path(stateDir: String) -> String { stateDir + "/ledger.sqlite3" }

    public init(path: String) {
        connections = SQLiteConnections(path: path, schema: Self.schema, label: "super-agent.sqlite-ledger")
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
        do { try await connections.write { db throws(SQLiteError) in _ = try db.query(Self.upsert, values) } } catch {
            throw LedgerError(error.description)
        }
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

    private func read(_ sql: String, _ values: [SQLiteValue]) async throws(LedgerError) -> [[SQLiteValue]] {
        do { return try await connections.read(sql, values) } catch { throw LedgerError(error.description) }
    }
}
