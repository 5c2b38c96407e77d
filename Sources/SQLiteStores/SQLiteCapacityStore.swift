import Delegation
import Dispatch

/// Capacity reports in a SQLite file, so every `super-agent` process on a host (one per role
/// agent) sees the others' load.
///
/// SQLite calls block (on disk, or up to the busy timeout while another process writes), so they
/// run on the store's own serial queue, never on Swift's cooperative threads. The database is opened
/// on first use, so start-up does not wait on the disk.
public final class SQLiteCapacityStore: CapacityStore, @unchecked Sendable {
    public let path: String
    private let queue = DispatchQueue(label: "super-agent.sqlite-capacity")
    /// Touched only on `queue`.
    private var database: SQLiteDatabase?

    public init(path: String) {
        self.path = path
    }

    public func put(_ report: CapacityReport) async throws(CapacityStoreError) {
        try await onQueue { db throws(SQLiteError) in
            _ = try db.query(
                """
                INSERT INTO capacity_reports (agent_id, active_tasks, max_tasks, reported_at) VALUES (?, ?, ?, ?)
                ON CONFLICT(agent_id) DO UPDATE SET active_tasks = excluded.active_tasks,
                    max_tasks = excluded.max_tasks, reported_at = excluded.reported_at
                """,
                [.text(report.agentID), .int(Int64(report.activeTasks)), .int(Int64(report.maxTasks)), .double(report.reportedAt)])
        }
    }

    public func reports(since: Double) async throws(CapacityStoreError) -> [CapacityReport] {
        let rows = try await onQueue { db throws(SQLiteError) in
            try db.query(
                "SELECT agent_id, active_tasks, max_tasks, reported_at FROM capacity_reports WHERE reported_at >= ? ORDER BY agent_id",
                [.double(since)])
        }
        return rows.compactMap { row in
            guard row.count == 4, let id = row[0].text, let active = row[1].int, let max = row[2].int,
                let at = row[3].double
            else { return nil }
            return CapacityReport(agentID: id, activeTasks: Int(active), maxTasks: Int(max), reportedAt: at)
        }
    }

    /// Runs `body` on the store's queue with an open database; any SQLite failure becomes
    /// `.unavailable` naming the file, and the connection is reopened on the next call.
    private func onQueue<T: Sendable>(_ body: @escaping @Sendable (SQLiteDatabase) throws(SQLiteError) -> T)
        async throws(CapacityStoreError) -> T
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
        return try outcome.mapError { CapacityStoreError.unavailable($0.description) }.get()
    }

    private func open() throws(SQLiteError) -> SQLiteDatabase {
        if let database { return database }
        let db = try SQLiteDatabase(path: path)
        try db.execute(
            """
            CREATE TABLE IF NOT EXISTS capacity_reports (
                agent_id TEXT PRIMARY KEY,
                active_tasks INTEGER NOT NULL,
                max_tasks INTEGER NOT NULL,
                reported_at REAL NOT NULL
            )
            """)
        database = db
        return db
    }
}
