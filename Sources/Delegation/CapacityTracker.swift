#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a delegation question could not be answered.
public enum DelegationError: Error, Sendable, Equatable, CustomStringConvertible {
    case unknownAgent(String, known: [String])
    case invalidLoad(String)
    case store(CapacityStoreError)

    public var description: String {
        switch self {
        case .unknownAgent(let id, let known):
            return "agent \"\(id)\" is not in the org chart; set ROLE_ID to one of: \(known.joined(separator: ", "))"
        case .invalidLoad(let why):
            return why
        case .store(let e):
            return e.description
        }
    }
}

/// Answers delegation questions from the org chart and the agents' fresh load reports.
public struct CapacityTracker: Sendable {
    public let chart: OrgChart
    public let store: any CapacityStore
    /// How long a report stays fresh, in seconds.
    public let reportTTL: Double
    public let maxHops: Int
    let now: @Sendable () -> Double
    /// Every agent in the chart as `.unavailable`: the starting point of `availability()`, built once.
    private let nobodyReported: [String: AgentAvailability]

    public init(
        chart: OrgChart, store: any CapacityStore, reportTTL: Double = 600, maxHops: Int = 3,
        now: @escaping @Sendable () -> Double = CapacityTracker.wallClock
    ) {
        self.chart = chart
        self.store = store
        self.reportTTL = reportTTL
        self.maxHops = maxHops
        self.now = now
        self.nobodyReported = Dictionary(uniqueKeysWithValues: chart.ids.map { ($0, AgentAvailability.unavailable) })
    }

    /// Seconds since the Unix epoch.
    @Sendable public static func wallClock() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    func requireAgent(_ id: String) throws(DelegationError) -> Agent {
        guard let agent = chart.agent(id) else { throw .unknownAgent(id, known: chart.ids) }
        return agent
    }

    /// Publishes an agent's load; `maxTasks` defaults to the chart's `max_concurrent`.
    public func report(agentID: String, activeTasks: Int, maxTasks: Int?) async throws(DelegationError) -> CapacityReport {
        let agent = try requireAgent(agentID)
        let max = maxTasks ?? agent.maxConcurrent
        guard activeTasks >= 0 else { throw .invalidLoad("active_tasks must be 0 or more, got \(activeTasks)") }
        guard max >= 1 else { throw .invalidLoad("max_tasks must be at least 1, got \(max)") }
        let report = CapacityReport(agentID: agentID, activeTasks: activeTasks, maxTasks: max, reportedAt: now())
        do { try await store.put(report) } catch { throw .store(error) }
        return report
    }

    /// Every agent's availability now: a fresh report's load, otherwise unavailable.
    public func availability() async throws(DelegationError) -> [String: AgentAvailability] {
        let reports: [CapacityReport]
        do { reports = try await store.reports(since: now() - reportTTL) } catch { throw .store(error) }
        var result = nobodyReported
        for r in reports where result[r.agentID] != nil {
            result[r.agentID] = .reported(Load(active: r.activeTasks, max: r.maxTasks))
        }
        return result
    }

    /// `should_i_delegate`: yourself, a report, a sibling, or a pool worker.
    public func shouldDelegate(agentID: String, priority: DelegationPriority, chain: [String]) async throws(DelegationError)
        -> DelegationDecision
    {
        _ = try requireAgent(agentID)
        return DelegationPolicy.decide(
            caller: agentID, chart: chart, availability: try await availability(), priority: priority, chain: chain,
            maxHops: maxHops)
    }

    /// `get_delegation_recommendation`: a report, else a sibling, else a pool worker (never yourself).
    public func recommend(agentID: String, priority: DelegationPriority, chain: [String]) async throws(DelegationError)
        -> DelegationDecision
    {
        _ = try requireAgent(agentID)
        return DelegationPolicy.decide(
            caller: agentID, chart: chart, availability: try await availability(), priority: priority, chain: chain,
            maxHops: maxHops, considerSelf: false)
    }
}
