import Delegation

/// Capacity reports in a SQLite file, so every `super-agent` process on a host (one per role
/// agent) sees the others' load. Writes go through the store's own queue and reads through a
/// query-only connection, as `SQLiteConnections` describes.
public final class SQLiteCapacityStore: CapacityStore, Sendable {
    public var path: String { connections.path }
    private let connections: SQLiteConnections

    private static let schema = """
        CREATE TABLE IF NOT EXISTS capacity_reports (
            agent_id TEXT PRIMARY KEY,
            active_tasks INTEGER NOT NULL,
            max_tasks INTEGER NOT NULL,
            reported_at REAL NOT NULL
        )
        """
    private static let upsert = """
        INSERT INTO capacity_reports (agent_id, active_tasks, max_tasks, reported_at) VALUES (?, ?, ?, ?)
        ON CONFLICT(agent_id) DO UPDATE SET active_tasks = excluded.active_tasks,
            max_tasks = excluded.max_tasks, reported_at = excluded.reported_at
        """
    private static let select =
        "SELECT agent_id, active_tasks, max_tasks, reported_at FROM capacity_reports WHERE reported_at >= ? ORDER BY agent_id"

    public init(path: String) {
        connections = SQLiteConnections(path: path, schema: Self.schema, label: "super-agent.sqlite-capacity")
    }

    public func put(_ report: CapacityReport) async throws(CapacityStoreError) {
        let values: [SQLiteValue] = [
            .text(report.agentID), .int(Int64(report.activeTasks)), .int(Int64(report.maxTasks)), .double(report.reportedAt),
        ]
        do { try await connections.write { db throws(SQLiteError) in _ = try db.query(Self.upsert, values) } } catch {
            throw .unavailable(error.description)
        }
    }

    public func reports(since: Double) async throws(CapacityStoreError) -> [CapacityReport] {
        do { return Self.decode(try await connections.read(Self.select, [.double(since)])) } catch {
            throw .unavailable(error.description)
        }
    }

    private static func decode(_ rows: [[SQLiteValue]]) -> [CapacityReport] {
        rows.compactMap { row in
            guard row.count == 4, let id = row[0].text, let active = row[1].int, let max = row[2].int,
                let at = row[3].double
            else { return nil }
            return CapacityReport(agentID: id, activeTasks: Int(active), maxTasks: Int(max), reportedAt: at)
        }
    }
}
