import Synchronization

/// One run as the ledger keeps it, whatever its status.
public struct LedgerEntry: Sendable, Equatable {
    public var runID: String
    /// The calling agent (`ROLE_ID`); `LedgerEntry.noAgent` when there is none.
    public var agent: String
    public var task: String
    public var adapter: String
    public var model: String?
    public var tier: Tier?
    /// Which routing rule chose the model (`hint`, `task:summarize*`, `default`, `budget-downgrade`).
    public var rule: String
    /// The run's status as on the wire (`OK`, `FAILED`, `BUDGET_EXCEEDED`…).
    public var status: String
    public var usage: TokenUsage
    public var costUSD: Double?
    public var costSource: CostSource
    public var durationMs: Int
    public var pod: String?
    /// When the run finished, in Unix seconds.
    public var time: Double

    /// The agent recorded for a caller without a `ROLE_ID`.
    public static let noAgent = "(none)"

    public init(
        runID: String, agent: String, task: String, adapter: String, model: String?, tier: Tier?, rule: String,
        status: String, usage: TokenUsage = TokenUsage(), costUSD: Double? = nil, costSource: CostSource = .unknown,
        durationMs: Int = 0, pod: String? = nil, time: Double
    ) {
        self.runID = runID
        self.agent = agent
        self.task = task
        self.adapter = adapter
        self.model = model
        self.tier = tier
        self.rule = rule
        self.status = status
        self.usage = usage
        self.costUSD = costUSD
        self.costSource = costSource
        self.durationMs = durationMs
        self.pod = pod
        self.time = time
    }
}

/// The ledger could not be read or written; `message` names the file and SQLite's reason.
public struct LedgerError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "ledger unavailable: \(message)" }
}

/// Every run, recorded after it ends, for reports and budgets.
///
/// One row per run id: recording the same run id again replaces the earlier row (a retried or
/// re-reported run is counted once).
public protocol Ledger: Sendable {
    func record(_ entry: LedgerEntry) async throws(LedgerError)
    /// Runs with `time >= since`, oldest first.
    func entries(since: Double) async throws(LedgerError) -> [LedgerEntry]
    /// The agent's known spend (reported + computed costs) over runs with `time >= since`.
    func spend(agent: String, since: Double) async throws(LedgerError) -> Double
}

/// A ledger in this process's memory (tests, and a single process that needs no history).
public final class InMemoryLedger: Ledger {
    private struct State {
        var rows: [String: LedgerEntry] = [:]
        var failure: LedgerError?
    }
    private let state = Mutex(State())

    public init(_ entries: [LedgerEntry] = []) {
        state.withLock { s in for e in entries { s.rows[e.runID] = e } }
    }

    /// Makes every later call fail with `error` (nil: work again), to test callers' handling.
    public func failNextCalls(with error: LedgerError?) { state.withLock { $0.failure = error } }

    public func record(_ entry: LedgerEntry) async throws(LedgerError) {
        try state.withLock { s throws(LedgerError) in
            if let f = s.failure { throw f }
            s.rows[entry.runID] = entry
        }
    }

    public func entries(since: Double) async throws(LedgerError) -> [LedgerEntry] {
        try state.withLock { s throws(LedgerError) in
            if let f = s.failure { throw f }
            return s.rows.values.filter { $0.time >= since }.sorted { ($0.time, $0.runID) < ($1.time, $1.runID) }
        }
    }

    public func spend(agent: String, since: Double) async throws(LedgerError) -> Double {
        try await entries(since: since).filter { $0.agent == agent }.reduce(0) { $0 + ($1.costUSD ?? 0) }
    }
}
