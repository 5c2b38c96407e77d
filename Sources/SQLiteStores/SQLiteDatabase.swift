import CSQLite

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed SQLite call, with the database path and SQLite's own message.
public struct SQLiteError: Error, Sendable, CustomStringConvertible {
    public let path: String
    public let message: String
    public var description: String { "sqlite \(path): \(message)" }
}

/// One SQLite connection in WAL mode, shared safely by many processes on a host.
///
/// Not thread-safe by itself: the stores use each connection from one queue or under one lock.
final class SQLiteDatabase {
    /// What a connection is for.
    enum Role {
        /// Opens (creating if needed) the file, switches it to WAL, and waits up to 5 s for a lock.
        case writer
        /// Opens an existing file for queries only, and never waits for a lock: a WAL reader only
        /// meets one during recovery, and then the caller falls back to its writer.
        case reader
    }

    let path: String
    private var db: OpaquePointer?
    private var statements: [String: OpaquePointer] = [:]

    /// Opens the database; for a writer, creating it and its directory (private, 0700) if needed.
    init(path: String, role: Role = .writer) throws(SQLiteError) {
        self.path = path
        if role == .writer { try Self.makeParentDirectory(of: path) }
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (role == .writer ? SQLITE_OPEN_CREATE : 0)
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            sqlite3_close(db)
            db = nil
            throw SQLiteError(path: path, message: message)
        }
        switch role {
        case .writer:
            sqlite3_busy_timeout(db, 5000)
            try execute("PRAGMA journal_mode=WAL")
            try execute("PRAGMA synchronous=NORMAL")
        case .reader:
            try execute("PRAGMA query_only=1")
        }
    }

    deinit {
        for s in statements.values { sqlite3_finalize(s) }
        sqlite3_close(db)
    }

    func execute(_ sql: String) throws(SQLiteError) {
        var error: UnsafeMutablePointer<CChar>?
        if sqlite3_exec(db, sql, nil, nil, &error) != SQLITE_OK {
            let message = error.map { String(cString: $0) } ?? lastError
            sqlite3_free(error)
            throw SQLiteError(path: path, message: message)
        }
    }

    /// Binds `values` to the cached statement for `sql`, steps it to completion and returns every row.
    func query(_ sql: String, _ values: [SQLiteValue] = []) throws(SQLiteError) -> [[SQLiteValue]] {
        let stmt = try prepared(sql)
        defer {
            sqlite3_reset(stmt)
            sqlite3_clear_bindings(stmt)
        }
        for (i, v) in values.enumerated() {
            let idx = Int32(i + 1)
            let rc: Int32
            switch v {
            case .int(let n): rc = sqlite3_bind_int64(stmt, idx, n)
            case .double(let d): rc = sqlite3_bind_double(stmt, idx, d)
            case .text(let s): rc = sqlite3_bind_text(stmt, idx, s, -1, sa_sqlite_transient())
            case .null: rc = sqlite3_bind_null(stmt, idx)
            }
            guard rc == SQLITE_OK else { throw SQLiteError(path: path, message: lastError) }
        }
        var rows: [[SQLiteValue]] = []
        while true {
            let rc = sqlite3_step(stmt)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else { throw SQLiteError(path: path, message: lastError) }
            let n = sqlite3_column_count(stmt)
            var row: [SQLiteValue] = []
            row.reserveCapacity(Int(n))
            for c in 0..<n {
                switch sqlite3_column_type(stmt, c) {
                case SQLITE_INTEGER: row.append(.int(sqlite3_column_int64(stmt, c)))
                case SQLITE_FLOAT: row.append(.double(sqlite3_column_double(stmt, c)))
                case SQLITE_TEXT: row.append(.text(String(cString: sqlite3_column_text(stmt, c))))
                default: row.append(.null)
                }
            }
            rows.append(row)
        }
        return rows
    }

    private func prepared(_ sql: String) throws(SQLiteError) -> OpaquePointer {
        if let s = statements[sql] { return s }
        var stmt: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &stmt, nil) == SQLITE_OK, let stmt else {
            throw SQLiteError(path: path, message: lastError)
        }
        statements[sql] = stmt
        return stmt
    }

    private var lastError: String { db.map { String(cString: sqlite3_errmsg($0)) } ?? "no connection" }

    static func makeParentDirectory(of path: String) throws(SQLiteError) {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return }
        let dir = String(path[..<slash])
        var built = path.hasPrefix("/") ? "" : "."
        for part in dir.split(separator: "/", omittingEmptySubsequences: true) {
            built += "/" + part
            if mkdir(built, 0o700) != 0 && errno != EEXIST {
                throw SQLiteError(path: path, message: "cannot create directory \(built): \(String(cString: strerror(errno)))")
            }
        }
    }
}

/// A value bound to or read from SQLite.
enum SQLiteValue: Sendable, Equatable {
    case int(Int64)
    case double(Double)
    case text(String)
    case null

    var int: Int64? {
        switch self {
        case .int(let i): return i
        case .double(let d): return Int64(d)
        default: return nil
        }
    }
    var double: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }
    var text: String? {
        if case .text(let s) = self { return s }
        return nil
    }
}
