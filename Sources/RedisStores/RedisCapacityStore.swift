import Delegation
import Dispatch
import JSON

/// Capacity reports in Redis, so agents' processes on different hosts (and state directories) see
/// each other's load. One hash, `<prefix>capacity`: agent id → `{"active_tasks", "max_tasks",
/// "reported_at"}`; `reports(since:)` filters on `reported_at`.
///
/// hiredis calls block, so they run on the store's own serial queue, bounded by `options`' timeouts;
/// a failure drops the connection (the next call reconnects) and throws `.unavailable` naming the URL.
public final class RedisCapacityStore: CapacityStore, @unchecked Sendable {
    public let url: RedisURL
    public let keyPrefix: String
    public let options: RedisOptions
    private let queue = DispatchQueue(label: "super-agent.redis-capacity")
    /// Touched only on `queue`.
    private var connection: RedisConnection?

    public init(url: RedisURL, keyPrefix: String = RedisDefaults.keyPrefix, options: RedisOptions = RedisOptions()) {
        self.url = url
        self.keyPrefix = keyPrefix
        self.options = options
    }

    private var key: String { keyPrefix + "capacity" }

    public func put(_ report: CapacityReport) async throws(CapacityStoreError) {
        let value = JSON.object([
            "active_tasks": JSON(report.activeTasks), "max_tasks": JSON(report.maxTasks), "reported_at": .double(report.reportedAt),
        ]).text
        let key = self.key
        let reply = try await onQueue { connection throws(RedisFailure) in
            try connection.command(["HSET", key, report.agentID, value])
        }
        if case .error(let why) = reply { throw .unavailable("redis at \(url) refused the report: \(why)") }
    }

    public func reports(since: Double) async throws(CapacityStoreError) -> [CapacityReport] {
        let key = self.key
        let reply = try await onQueue { connection throws(RedisFailure) in try connection.command(["HGETALL", key]) }
        if case .error(let why) = reply { throw .unavailable("redis at \(url) refused to list the reports: \(why)") }
        guard let flat = reply.array else { throw .unavailable("redis at \(url) answered HGETALL with \(reply)") }
        var out: [CapacityReport] = []
        var i = 0
        while i + 1 < flat.count {
            defer { i += 2 }
            guard let agent = flat[i].string, let text = flat[i + 1].string, let json = try? JSON.parse(text),
                let active = json["active_tasks"]?.intValue, let max = json["max_tasks"]?.intValue,
                let at = json["reported_at"]?.numberValue
            else { continue }
            if at >= since { out.append(CapacityReport(agentID: agent, activeTasks: Int(active), maxTasks: Int(max), reportedAt: at)) }
        }
        return out.sorted { $0.agentID < $1.agentID }
    }

    /// Runs `body` on the queue with an open connection; any failure drops it and becomes `.unavailable`.
    private func onQueue<T: Sendable>(_ body: @escaping @Sendable (RedisConnection) throws(RedisFailure) -> T)
        async throws(CapacityStoreError) -> T
    {
        let outcome: Result<T, RedisFailure> = await withCheckedContinuation { continuation in
            queue.async {
                do throws(RedisFailure) {
                    let connection: RedisConnection
                    if let open = self.connection {
                        connection = open
                    } else {
                        connection = try RedisConnection.open(self.url, options: self.options)
                        self.connection = connection
                    }
                    continuation.resume(returning: .success(try body(connection)))
                } catch {
                    self.connection = nil
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        return try outcome.mapError { CapacityStoreError.unavailable($0.description) }.get()
    }
}
