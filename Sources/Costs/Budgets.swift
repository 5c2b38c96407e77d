/// What happens to an agent's runs once its budget is spent.
public enum OnExceed: String, Sendable, CaseIterable {
    /// Keep running, on the cheap tier (never for a zero budget: see `BudgetPolicy`).
    case downgrade
    /// Refuse the run with BUDGET_EXCEEDED.
    case refuse
}

/// One agent's spending limits in US dollars; nil means no limit.
public struct BudgetLimits: Sendable, Equatable {
    /// Per UTC calendar day.
    public var dailyUSD: Double?
    /// Per UTC calendar month.
    public var monthlyUSD: Double?
    public var onExceed: OnExceed

    public init(dailyUSD: Double? = nil, monthlyUSD: Double? = nil, onExceed: OnExceed = .downgrade) {
        self.dailyUSD = dailyUSD
        self.monthlyUSD = monthlyUSD
        self.onExceed = onExceed
    }

    public var isUnlimited: Bool { dailyUSD == nil && monthlyUSD == nil }
}

/// The budget check's answer for one run.
public enum BudgetDecision: Sendable, Equatable {
    /// Run as routed.
    case allow(Route)
    /// Run on the cheap tier instead (`route.rule == "budget-downgrade"`); `reason` says why, for the result's message.
    case downgrade(Route, reason: String)
    /// Do not run: answer BUDGET_EXCEEDED with `reason`.
    case refuse(reason: String)

    /// The route to run, or nil when refused.
    public var route: Route? {
        switch self {
        case .allow(let r), .downgrade(let r, _): r
        case .refuse: nil
        }
    }
}

/// Budgets per agent per day and per month.
///
/// Spend is only known after a run, so the check is "spent so far ≥ budget → exceeded": the run that
/// crosses the budget is allowed (its cost is not known in advance), the next one is downgraded or
/// refused. Spend counts reported and computed costs; runs of unknown cost count as $0.
///
/// A zero budget means "no paid runs": it is always exceeded, and it refuses even when `on_exceed` is
/// `downgrade`, because the cheap tier still costs money. Downgrading keeps the caller's adapter when
/// the caller named one (its cheap model), else moves to the cheap tier's adapter and model; an adapter
/// without a cheap model is refused rather than silently moved.
public struct BudgetPolicy: Sendable, Equatable {
    /// Limits for agents not listed in `agents`.
    public var defaultLimits: BudgetLimits
    /// Per-agent limits (already merged over the defaults when read from the config).
    public var agents: [String: BudgetLimits]
    /// For the cheap tier a downgrade moves to.
    public var routing: RoutingPolicy

    public init(defaultLimits: BudgetLimits = BudgetLimits(), agents: [String: BudgetLimits] = [:], routing: RoutingPolicy = .defaults) {
        self.defaultLimits = defaultLimits
        self.agents = agents
        self.routing = routing
    }

    public func limits(for agent: String) -> BudgetLimits { agents[agent] ?? defaultLimits }

    /// Decides one run from the agent's spend so far today and this month (UTC).
    public func check(agent: String, spentToday: Double, spentThisMonth: Double, route: Route) -> BudgetDecision {
        let limits = limits(for: agent)
        var exceeded: [(what: String, limit: Double, spent: Double)] = []
        if let d = limits.dailyUSD, spentToday >= d { exceeded.append(("daily", d, spentToday)) }
        if let m = limits.monthlyUSD, spentThisMonth >= m { exceeded.append(("monthly", m, spentThisMonth)) }
        guard !exceeded.isEmpty else { return .allow(route) }
        let reason = exceeded.map { e in
            "agent \(agent) has spent \(Money.format(e.spent)) of its \(e.what) budget of \(Money.format(e.limit))"
        }.joined(separator: " and ")
        if limits.onExceed == .refuse { return .refuse(reason: reason) }
        if exceeded.contains(where: { $0.limit <= 0 }) {
            return .refuse(reason: reason + "; a zero budget allows no paid runs, so the run is not downgraded")
        }
        guard let cheap = routing.downgrade(route) else {
            return .refuse(reason: reason + "; adapter \(route.adapter) has no cheap-tier model to downgrade to")
        }
        let to = cheap.model.map { "\(cheap.adapter)/\($0)" } ?? cheap.adapter
        return .downgrade(cheap, reason: reason + "; downgraded to the cheap tier (\(to))")
    }

    /// Reads today's and this month's spend from `ledger` (only what the limits need) and checks.
    public func check(agent: String, route: Route, ledger: any Ledger, now: Double) async throws(LedgerError) -> BudgetDecision {
        let limits = limits(for: agent)
        if limits.isUnlimited { return .allow(route) }
        let today = limits.dailyUSD == nil ? 0 : try await ledger.spend(agent: agent, since: UTCCalendar.startOfDay(now))
        let month = limits.monthlyUSD == nil ? 0 : try await ledger.spend(agent: agent, since: UTCCalendar.startOfMonth(now))
        return check(agent: agent, spentToday: today, spentThisMonth: month, route: route)
    }
}
