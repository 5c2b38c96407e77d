import Delegation

/// Capacity reports in a SQLite file, so every `super-agent` process on a host (one per role
/// agent) sees the others' load. Opened on first use, so start-up does not wait on the disk.
public actor SQLiteCapacityStore: CapacityStore {
    public let path: String
    private var database: SQLiteDatabase?

    public init(path: String) {
        self.path = path
    }

    private func open() throws(CapacityStoreError) -> SQLiteDatabase {
        if let database { return database }
        do {
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
        } catch {
            throw .unavailable(error.description)
        }
    }

    public func put(_ report: CapacityReport) throws(CapacityStoreError) {
        do {
            _ = try open().query(
                """
                INSERT INTO capacity_reports (agent_id, active_tasks, max_tasks, reported_at) VALUES (?, ?, ?, ?)
                ON CONFLICT(agent_id) DO UPDATE SET active_tasks = excluded.active_tasks,
                    max_tasks = excluded.max_tasks, reported_at = excluded.reported_at
                """,
                [.text(report.agentID), .int(Int64(report.activeTasks)), .int(Int64(report.maxTasks)), .double(report.reportedAt)])
        } catch let e as SQLiteError {
            throw .unavailable(e.description)
        } catch let e as CapacityStoreError {
            throw e
        } catch {
            throw .unavailable("\(error)")
        }
    }

    public func reports(since: Double) throws(CapacityStoreError) -> [CapacityReport] {
        let rows: [[SQLiteValue]]
        do {
            rows = try open().query(
                "SELECT agent_id, active_tasks, max_tasks, reported_at FROM capacity_reports WHERE reported_at >= ? ORDER BY agent_id",
                [.double(since)])
        } catch let e as SQLiteError {
            throw .unavailable(e.description)
        } catch let e as CapacityStoreError {
            throw e
        } catch {
            throw .unavailable("\(error)")
        }
        return rows.compactMap { row in
            guard row.count == 4, let id = row[0].text, let active = row[1].int, let max = row[2].int,
                let at = row[3].double
            else { return nil }
            return CapacityReport(agentID: id, activeTasks: Int(active), maxTasks: Int(max), reportedAt: at)
        }
    }
}
