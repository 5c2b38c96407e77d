/// What an agent knows of another's load.
public enum AgentAvailability: Sendable, Equatable {
    case reported(Load)
    /// No report within the TTL: never counted as free.
    case unavailable

    public var load: Load? {
        if case .reported(let l) = self { return l }
        return nil
    }
}

/// The four answers to "who should do this task?", in the order they are tried.
public enum DelegationAction: String, Sendable {
    case doItYourself = "do_it_yourself"
    case delegateToReport = "delegate_to_report"
    case delegateToSibling = "delegate_to_sibling"
    case spawnWorker = "spawn_worker"
}

/// A delegation answer with the reasoning behind it.
public struct DelegationDecision: Sendable, Equatable {
    public let agentID: String
    public let action: DelegationAction
    /// The recommended agent for `delegate_to_report` / `delegate_to_sibling`.
    public let delegateTo: String?
    /// That agent's load when the decision was made.
    public let targetLoad: Load?
    public let reason: String

    public var shouldDelegate: Bool { action != .doItYourself }
}

/// The delegation order, as a pure function of the chart and everyone's load:
/// 1. yourself, if you have capacity; 2. a direct report with capacity; 3. a sibling with capacity;
/// 4. a pool worker. Among candidates the most free slots wins, ties by id.
///
/// Loop prevention: the caller and every agent in `chain` are never recommended, and a task that has
/// already passed through `maxHops` agents goes to a pool worker.
public enum DelegationPolicy {
    public static func decide(
        caller: String, chart: OrgChart, availability: [String: AgentAvailability],
        priority: DelegationPriority, chain: [String], maxHops: Int, considerSelf: Bool = true
    ) -> DelegationDecision {
        func decision(_ action: DelegationAction, _ target: String? = nil, _ load: Load? = nil, _ reason: String)
            -> DelegationDecision
        {
            DelegationDecision(agentID: caller, action: action, delegateTo: target, targetLoad: load, reason: reason)
        }
        if chain.count >= maxHops {
            return decision(
                .spawnWorker, nil, nil,
                "the task has already passed through \(chain.count) agent(s) (\(chain.joined(separator: " -> "))); "
                    + "max_hops is \(maxHops), so spawn a pool worker instead of delegating again")
        }
        var selfNote: String? = nil
        if considerSelf {
            switch availability[caller] ?? .unavailable {
            case .reported(let load) where priority.fits(load):
                return decision(
                    .doItYourself, nil, load,
                    "you have \(load.free) of \(load.max) slots free; \(priority.ceilingDescription)")
            case .reported(let load):
                selfNote = "you are at \(load.active)/\(load.max) (\(priority.ceilingDescription))"
            case .unavailable:
                selfNote = "you have no fresh capacity report (call report_capacity)"
            }
        }
        func because(_ text: String) -> String { [selfNote, text].compactMap { $0 }.joined(separator: "; ") }
        let excluded = Set(chain + [caller])
        func best(_ ids: [String]) -> (String, Load)? {
            ids.filter { !excluded.contains($0) }
                .compactMap { id in availability[id]?.load.flatMap { priority.fits($0) ? (id, $0) : nil } }
                .min { a, b in a.1.free != b.1.free ? a.1.free > b.1.free : a.0 < b.0 }
        }
        if let (id, load) = best(chart.reports(of: caller)) {
            return decision(
                .delegateToReport, id, load, because("your report \(id) has \(load.free) of \(load.max) slots free"))
        }
        if let (id, load) = best(chart.siblings(of: caller)) {
            return decision(
                .delegateToSibling, id, load,
                because("no report has room; your sibling \(id) has \(load.free) of \(load.max) slots free"))
        }
        let reports = chart.reports(of: caller).count
        let siblings = chart.siblings(of: caller).count
        return decision(
            .spawnWorker, nil, nil,
            because(
                "none of your \(reports) report(s) or \(siblings) sibling(s) has room for \(priority.rawValue) work "
                    + "(agents without a fresh report count as unavailable); spawn a pool worker"))
    }
}
