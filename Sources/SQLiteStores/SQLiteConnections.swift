import Dispatch
import Synchronization

/// The connection discipline every SQLite store here shares.
///
/// Writes can block (on disk, or up to the busy timeout while another process writes), so they run
/// on the store's own serial queue, never on the caller's thread. Reads use a second, query-only
/// connection on the caller's thread: in WAL mode a reader never waits for a writer, and that
/// connection has no busy timeout, so in the rare case it would have to wait (WAL recovery after a
/// crash) the read falls back to the queue. The file is opened on first use, so start-up never
/// waits on the disk, and that first use (which creates the schema) always goes through the queue.
final class SQLiteConnections: @unchecked Sendable {
    let path: String
    private let schema: String
    private let queue: DispatchQueue
    /// The write connection. Touched only on `queue`.
    private var database: SQLiteDatabase?
    /// The read connection, opened on `queue` once the write connection has set the file up, then
    /// used under this lock on whichever thread reads.
    private let reader = Mutex<ReadConnection?>(nil)

    init(path: String, schema: String, label: String) {
        self.path = path
        self.schema = schema
        self.queue = DispatchQueue(label: label)
    }

    /// Runs `body` on the queue with the write connection; on failure the connection is dropped and
    /// reopened by the next call.
    func write<T: Sendable>(_ body: @escaping @Sendable (SQLiteDatabase) throws(SQLiteError) -> T) async throws(SQLiteError) -> T {
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
        return try outcome.get()
    }

    /// A query on the read connection when there is one, else on the queue (which also opens it).
    func read(_ sql: String, _ values: [SQLiteValue]) async throws(SQLiteError) -> [[SQLiteValue]] {
        if let rows = readDirectly(sql, values) { return rows }
        return try await write { db throws(SQLiteError) in
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
        let connection = ReadConnection(db: db)
        reader.withLock { $0 = connection }
    }

    private func open() throws(SQLiteError) -> SQLiteDatabase {
        if let database { return database }
        let db = try SQLiteDatabase(path: path)
        try db.execute(schema)
        database = db
        return db
    }
}

/// The read connection, only ever used under `SQLiteConnections.reader`'s lock.
private final class ReadConnection: @unchecked Sendable {
    let db: SQLiteDatabase
    init(db: SQLiteDatabase) { self.db = db }
}
