import Delegation
import Dispatch
import Synchronization

/// Capacity reports in a SQLite file, so every `super-agent` process on a host (one per role
/// agent) sees the others' load.
///
/// Writes can block (on disk, or up to the busy timeout while another process writes), so they run
/// on the store's own serial queue, never on the caller's thread. Reads use a second connection on
/// the caller's thread: in WAL mode a reader never waits for a writer, and that connection has no
/// busy timeout, so in the rare case it would have to wait (WAL recovery after a crash) the read
/// falls back to the queue. The database is opened on first use, so start-up does not wait on the
/// disk, and that first use (which creates the table) always goes through the queue.
public final class SQLiteCapacityStore: CapacityStore, @unchecked Sendable {
    public let path: String
    private let queue = DispatchQueue(label: "super-agent.sqlite-capacity")
    /// The write connection. Touched only on `queue`.
    private var database: SQLiteDatabase?
    /// The read connection, opened on `queue` once the write connection has set the file up, then used
    /// under this lock on whichever thread reads.
    private let reader = Mutex<ReadConnection?>(nil)

    private static let upsert = """
        INSERT INTO capacity_reports (agent_id, active_tasks, max_tasks, reported_at) VALUES (?, ?, ?, ?)
        ON CONFLICT(agent_id) DO UPDATE SET active_tasks = excluded.active_tasks,
            max_tasks = excluded.max_tasks, reported_at = excluded.reported_at
        """
    private static let select =
        "SELECT agent_id, active_tasks, max_tasks, reported_at FROM capacity_reports WHERE reported_at >= ? ORDER BY agent_id"

    public init(path: String) {
        self.path = path
    }

    public func put(_ report: CapacityReport) async throws(CapacityStoreError) {
        try await onQueue { db throws(SQLiteError) in
            _ = try db.query(
                Self.upsert,
                [.text(report.agentID), .int(Int64(report.activeTasks)), .int(Int64(report.maxTasks)), .double(report.reportedAt)])
        }
    }

    public func reports(since: Double) async throws(CapacityStoreError) -> [CapacityReport] {
        if let rows = readDirectly(since: since) { return Self.decode(rows) }
        let rows = try await onQueue { db throws(SQLiteError) in
            let rows = try db.query(Self.select, [.double(since)])
            self.openReaderIfNeeded()
            return rows
        }
        return Self.decode(rows)
    }

    /// The rows from the read connection, or nil when there is none yet or it failed (it is then
    /// dropped, and the queue answers and reports any error).
    private func readDirectly(since: Double) -> [[SQLiteValue]]? {
        reader.withLock { connection -> [[SQLiteValue]]? in
            guard let db = connection?.db else { return nil }
            do {
                return try db.query(Self.select, [.double(since)])
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
        let connection = ReadConnection(db: db)
        reader.withLock { $0 = connection }
    }

    private static func decode(_ rows: [[SQLiteValue]]) -> [CapacityReport] {
        rows.compactMap { row in
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

/// The read connection, only ever used under `SQLiteCapacityStore.reader`'s lock.
private final class ReadConnection: @unchecked Sendable {
    let db: SQLiteDatabase
    init(db: SQLiteDatabase) { self.db = db }
}
