import Costs
import Testing

@Suite("Budgets")
struct BudgetTests {
    let standard = RoutingPolicy.defaults.route(task: "design-api", adapter: nil, modelHint: nil)

    /// Runs `count` runs of `cost` each for `agent`, checking the budget before each and recording
    /// the run after it (as RunService will); returns each run's decision.
    func simulate(_ policy: BudgetPolicy, agent: String = "cto", runs count: Int, cost: Double, at start: Double = dec1 + 3600)
        async throws -> [BudgetDecision]
    {
        let ledger = InMemoryLedger()
        var decisions: [BudgetDecision] = []
        for i in 0..<count {
            let now = start + Double(i) * 60
            let decision = try await policy.check(agent: agent, route: standard, ledger: ledger, now: now)
            decisions.append(decision)
            if decision.route != nil {
                try await ledger.record(entry("run-\(i)", agent: agent, cost: cost, at: now))
            }
        }
        return decisions
    }

    @Test func theRunThatCrossesTheDailyBudgetIsAllowedAndTheNextIsDowngraded() async throws {
        let policy = BudgetPolicy(defaultLimits: BudgetLimits(dailyUSD: 0.10, onExceed: .downgrade))
        // Spent before each run: 0, 0.04, 0.08 (< 0.10, allowed; ends at 0.12), then 0.12 ≥ 0.10.
        let d = try await simulate(policy, runs: 5, cost: 0.04)
        #expect(d[0] == .allow(standard))
        #expect(d[1] == .allow(standard))
        #expect(d[2] == .allow(standard))
        guard case .downgrade(let route, let reason) = d[3] else {
            Issue.record("run 4 should be downgraded, got \(d[3])")
            return
        }
        #expect(route == Route(adapter: "gemini", model: "gemini-2.5-flash-lite", tier: .cheap, rule: "budget-downgrade"))
        #expect(reason.contains("cto") && reason.contains("daily budget of $0.10") && reason.contains("$0.12"))
        #expect(d[4].route?.rule == "budget-downgrade")
    }

    @Test func theRunThatCrossesTheBudgetIsAllowedAndTheNextIsRefused() async throws {
        let policy = BudgetPolicy(defaultLimits: BudgetLimits(dailyUSD: 0.10, onExceed: .refuse))
        let d = try await simulate(policy, runs: 4, cost: 0.04)
        #expect(d[0...2].allSatisfy { $0 == .allow(standard) })
        guard case .refuse(let reason) = d[3] else {
            Issue.record("run 4 should be refused, got \(d[3])")
            return
        }
        #expect(reason.contains("daily budget"))
    }

    @Test func spendingExactlyTheBudgetExceedsIt() {
        let policy = BudgetPolicy(defaultLimits: BudgetLimits(dailyUSD: 1, onExceed: .refuse))
        #expect(policy.check(agent: "cto", spentToday: 0.999, spentThisMonth: 0.999, route: standard) == .allow(standard))
        #expect(policy.check(agent: "cto", spentToday: 1, spentThisMonth: 1, route: standard).route == nil)
    }

    @Test func aZeroBudgetRefusesEvenWhenSetToDowngrade() async throws {
        let policy = BudgetPolicy(defaultLimits: BudgetLimits(dailyUSD: 0, onExceed: .downgrade))
        let d = try await simulate(policy, runs: 1, cost: 0.01)
        guard case .refuse(let reason) = d[0] else {
            Issue.record("a zero budget must refuse the first run, got \(d[0])")
            return
        }
        #expect(reason.contains("zero budget"))
        let monthly = BudgetPolicy(defaultLimits: BudgetLimits(monthlyUSD: 0))
        #expect(monthly.check(agent: "a", spentToday: 0, spentThisMonth: 0, route: standard).route == nil)
    }

    @Test func yesterdaysSpendDoesNotCountTodayButCountsThisMonth() async throws {
        let ledger = InMemoryLedger([entry("old", agent: "cto", cost: 3, at: dec1 + 100)])
        let daily = BudgetPolicy(defaultLimits: BudgetLimits(dailyUSD: 2, onExceed: .refuse))
        #expect(try await daily.check(agent: "cto", route: standard, ledger: ledger, now: dec1 + 200).route == nil)
        #expect(try await daily.check(agent: "cto", route: standard, ledger: ledger, now: dec2 + 10) == .allow(standard))
        let monthly = BudgetPolicy(defaultLimits: BudgetLimits(monthlyUSD: 2, onExceed: .refuse))
        #expect(try await monthly.check(agent: "cto", route: standard, ledger: ledger, now: dec2 + 10).route == nil)
        // 2027-01-01: a new month.
        let jan1 = UTCCalendar.parseISODay("2027-01-01")!
        #expect(try await monthly.check(agent: "cto", route: standard, ledger: ledger, now: jan1 + 10) == .allow(standard))
    }

    @Test func budgetsArePerAgent() async throws {
        let ledger = InMemoryLedger([entry("a", agent: "cto", cost: 5), entry("b", agent: "cfo", cost: 0.5)])
        let policy = BudgetPolicy(
            defaultLimits: BudgetLimits(dailyUSD: 1, onExceed: .refuse),
            agents: ["cto": BudgetLimits(dailyUSD: 10, onExceed: .refuse)])
        #expect(try await policy.check(agent: "cto", route: standard, ledger: ledger, now: dec1 + 7200) == .allow(standard))
        #expect(try await policy.check(agent: "cfo", route: standard, ledger: ledger, now: dec1 + 7200) == .allow(standard))
        try await ledger.record(entry("c", agent: "cfo", cost: 0.5, at: dec1 + 3700))
        #expect(try await policy.check(agent: "cfo", route: standard, ledger: ledger, now: dec1 + 7200).route == nil)
    }

    @Test func unknownCostsCountAsZero() async throws {
        let ledger = InMemoryLedger([entry("a", agent: "cto", cost: nil), entry("b", agent: "cto", cost: 0.25)])
        #expect(try await ledger.spend(agent: "cto", since: 0) == 0.25)
    }

    @Test func aDowngradeOfANamedAdapterWithoutACheapModelIsRefused() {
        let route = RoutingPolicy.defaults.route(task: "x", adapter: "command", modelHint: nil)
        let policy = BudgetPolicy(defaultLimits: BudgetLimits(dailyUSD: 1, onExceed: .downgrade))
        guard case .refuse(let reason) = policy.check(agent: "cto", spentToday: 2, spentThisMonth: 2, route: route) else {
            Issue.record("expected a refusal")
            return
        }
        #expect(reason.contains("no cheap-tier model"))
    }

    @Test func anExplicitHintIsDowngradedWhenTheBudgetIsSpent() {
        let hinted = RoutingPolicy.defaults.route(task: "x", adapter: "claude", modelHint: "opus")
        let policy = BudgetPolicy(defaultLimits: BudgetLimits(monthlyUSD: 50, onExceed: .downgrade))
        #expect(policy.check(agent: "cto", spentToday: 0, spentThisMonth: 49, route: hinted) == .allow(hinted))
        let d = policy.check(agent: "cto", spentToday: 0, spentThisMonth: 50, route: hinted)
        #expect(d.route == Route(adapter: "claude", model: "haiku", tier: .cheap, rule: "budget-downgrade", adapterFromCaller: true))
    }

    @Test func noLimitsNeverReadTheLedger() async throws {
        let ledger = InMemoryLedger()
        ledger.failNextCalls(with: LedgerError("down"))
        let policy = BudgetPolicy()
        #expect(try await policy.check(agent: "cto", route: standard, ledger: ledger, now: dec1) == .allow(standard))
        let limited = BudgetPolicy(defaultLimits: BudgetLimits(dailyUSD: 1))
        await #expect(throws: LedgerError("down")) { try await limited.check(agent: "cto", route: standard, ledger: ledger, now: dec1) }
    }
}
