import Synchronization

/// An agent's own account of its load at a moment.
public struct CapacityReport: Sendable, Equatable {
    public let agentID: String
    public let activeTasks: Int
    public let maxTasks: Int
    /// Seconds since the Unix epoch.
    public let reportedAt: Double

    public init(agentID: String, activeTasks: Int, maxTasks: Int, reportedAt: Double) {
        self.agentID = agentID
        self.activeTasks = activeTasks
        self.maxTasks = maxTasks
        self.reportedAt = reportedAt
    }
}

/// Where agents' load reports live, so every agent's server sees the others'.
///
/// The in-memory store serves tests and single-process use; the SQLite one (the default) is shared
/// by every process on a host; later a Redis one is shared across hosts.
public protocol CapacityStore: Sendable {
    /// Records a report, replacing the agent's previous one.
    func put(_ report: CapacityReport) async throws(CapacityStoreError)
    /// Every report made at or after `since` (seconds since the epoch).
    func reports(since: Double) async throws(CapacityStoreError) -> [CapacityReport]
}

/// A store that could not be read or written; the message says what to check.
public enum CapacityStoreError: Error, Sendable, Equatable, CustomStringConvertible {
    case unavailable(String)

    public var description: String {
        switch self {
        case .unavailable(let why): return "capacity store unavailable: \(why)"
        }
    }
}

/// Reports held in this process only.
///
/// A lock rather than an actor: every call is a dictionary access, so callers never hop to another
/// executor (a tool call that reads it is answered on the thread that received it).
public final class InMemoryCapacityStore: CapacityStore {
    private let latest = Mutex<[String: CapacityReport]>([:])

    public init() {}

    public func put(_ report: CapacityReport) throws(CapacityStoreError) {
        latest.withLock { $0[report.agentID] = report }
    }

    public func reports(since: Double) throws(CapacityStoreError) -> [CapacityReport] {
        latest.withLock { $0.values.filter { $0.reportedAt >= since } }.sorted { $0.agentID < $1.agentID }
    }
}
