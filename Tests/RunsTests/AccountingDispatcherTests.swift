import Costs
import JSON
import Log
import Runs
import Synchronization
import Testing

// MARK: - Fakes

/// An inner dispatcher that answers every request with a scripted result and records what reached it.
final class ScriptedDispatcher: RunDispatcher {
    typealias Respond = @Sendable (RunRequest) async -> RunResult
    private struct State {
        var received: [RunRequest] = []
        var cancelled: [String] = []
    }
    private let state = Mutex(State())
    private let respond: Respond

    init(_ respond: @escaping Respond) { self.respond = respond }

    /// A started run: confinement set, so the accounting prices it.
    convenience init(status: RunStatus = .ok, usage: RunUsage? = nil, cost: Double? = nil) {
        self.init { req in Self.started(req, status: status, usage: usage, cost: cost) }
    }

    var received: [RunRequest] { state.withLock { $0.received } }
    var cancelled: [String] { state.withLock { $0.cancelled } }

    func submit(_ request: RunRequest, events: @escaping @Sendable (RunEvent) -> Void) async -> RunResult {
        state.withLock { $0.received.append(request) }
        events(.accepted(runID: request.runID, pod: "pod-a"))
        return await respond(request)
    }

    func cancel(runID: String) async -> Bool {
        state.withLock { $0.cancelled.append(runID) }
        return runID == "known"
    }

    func status() async -> PoolStatus { PoolStatus(pod: "pod-a", slots: 7, busy: 2, draining: false, runs: []) }

    /// What a RunService answers for a run it launched: the adapter and model it was asked for, a
    /// confinement, a pod and a duration.
    static func started(
        _ req: RunRequest, status: RunStatus = .ok, usage: RunUsage? = nil, cost: Double? = nil, model: String? = nil
    ) -> RunResult {
        RunResult(
            status: status, runID: req.runID, task: req.task, adapter: req.adapter, model: model ?? req.model, pod: "pod-a",
            exitCode: status == .ok ? 0 : 1, output: "answer of \(req.runID)", durationMs: 1234, usage: usage, costUSD: cost,
            message: status == .ok ? "" : "it went \(status.rawValue)", confinement: "landlock")
    }

    /// What a pool answers for a run it never started (no confinement).
    static func notStarted(_ req: RunRequest, _ status: RunStatus, cost: Double? = nil) -> RunResult {
        var r = RunResult.refused(status, req, message: "not started: \(status.rawValue)", pod: "pod-a", retryAfterMs: 500)
        r.costUSD = cost
        return r
    }
}

/// A clock the test moves by hand.
final class TestClock: Sendable {
    private let value: Mutex<Double>
    init(_ t: Double) { value = Mutex(t) }
    func now() -> Double { value.withLock { $0 } }
    func set(_ t: Double) { value.withLock { $0 = t } }
}

/// 2026-12-15 12:00:00 UTC (1_796_083_200 is 2026-12-01 00:00 UTC; + 14.5 days).
private let midDecember: Double = 1_796_083_200 + 14 * 86_400 + 12 * 3600

private func accounting(
    _ inner: ScriptedDispatcher, ledger: InMemoryLedger = InMemoryLedger(), budgets: BudgetPolicy = BudgetPolicy(),
    clock: TestClock = TestClock(midDecember)
) -> AccountingDispatcher {
    AccountingDispatcher(
        inner: inner, ledger: ledger, prices: .defaults, routing: .defaults, budgets: budgets,
        adapters: AdapterSpec.defaults, logger: .discard, now: { clock.now() })
}

private func req(
    _ runID: String, task: String = "design-api", adapter: String = "auto", model: String? = nil, agent: String? = "cto"
) -> RunRequest {
    RunRequest(runID: runID, task: task, prompt: "hello", adapter: adapter, model: model, callerAgent: agent)
}

private func near(_ a: Double?, _ b: Double, tolerance: Double = 1e-12) -> Bool {
    guard let a else { return false }
    return abs(a - b) <= tolerance
}

private func ledgerRows(_ ledger: InMemoryLedger) async throws -> [String: LedgerEntry] {
    let all = try await ledger.entries(since: 0)
    return Dictionary(uniqueKeysWithValues: all.map { ($0.runID, $0) })
}

// MARK: - Routing

@Suite("AccountingDispatcher routing")
struct AccountingRoutingTests {
    @Test func autoAdapterSendsASummarizeTaskToTheCheapGeminiModel() async throws {
        let inner = ScriptedDispatcher()
        let ledger = InMemoryLedger()
        let result = await accounting(inner, ledger: ledger).submit(req("r1", task: "summarize-x")) { _ in }

        let sent = try #require(inner.received.first)
        #expect(sent.adapter == "gemini")
        #expect(sent.model == "gemini-2.5-flash-lite")
        #expect(result.adapter == "gemini" && result.model == "gemini-2.5-flash-lite")
        #expect(result.tier == "cheap")
        #expect(result.rule == "task:summarize*")
        let row = try #require(try await ledgerRows(ledger)["r1"])
        #expect(row.adapter == "gemini" && row.model == "gemini-2.5-flash-lite")
        #expect(row.tier == .cheap && row.rule == "task:summarize*")
    }

    @Test func autoAdapterWithoutAMatchingRuleUsesTheDefaultTier() async throws {
        let inner = ScriptedDispatcher()
        let result = await accounting(inner).submit(req("r1", task: "design-api")) { _ in }
        let sent = try #require(inner.received.first)
        #expect(sent.adapter == "claude" && sent.model == "sonnet")
        #expect(result.tier == "standard" && result.rule == "default")
    }

    @Test func explicitAdapterAndModelHintWinOverTheTaskRule() async throws {
        let inner = ScriptedDispatcher()
        let ledger = InMemoryLedger()
        let result = await accounting(inner, ledger: ledger).submit(req("r1", task: "summarize-x", adapter: "claude", model: "opus")) { _ in }

        let sent = try #require(inner.received.first)
        #expect(sent.adapter == "claude" && sent.model == "opus")
        #expect(result.tier == "frontier")
        #expect(result.rule == "hint")
        let row = try #require(try await ledgerRows(ledger)["r1"])
        #expect(row.rule == "hint" && row.tier == .frontier && row.model == "opus")
    }

    @Test func explicitAdapterWithoutHintGetsThatAdaptersModelForTheTaskTier() async throws {
        let inner = ScriptedDispatcher()
        let result = await accounting(inner).submit(req("r1", task: "summarize-x", adapter: "claude")) { _ in }
        let sent = try #require(inner.received.first)
        #expect(sent.adapter == "claude" && sent.model == "haiku")
        #expect(result.tier == "cheap" && result.rule == "task:summarize*")
    }

    @Test func modelHintAutoRoutesByTask() async throws {
        let inner = ScriptedDispatcher()
        let result = await accounting(inner).submit(req("r1", task: "summarize-x", model: "auto")) { _ in }
        let sent = try #require(inner.received.first)
        #expect(sent.adapter == "gemini" && sent.model == "gemini-2.5-flash-lite")
        #expect(result.rule == "task:summarize*")
    }

    @Test func eventsCancelAndStatusPassThroughToTheInnerDispatcher() async {
        let inner = ScriptedDispatcher()
        let d = accounting(inner)
        let events = Recorder<RunEvent>()
        _ = await d.submit(req("r1")) { events.append($0) }
        #expect(events.all == [.accepted(runID: "r1", pod: "pod-a")])
        #expect(await d.cancel(runID: "known"))
        #expect(!(await d.cancel(runID: "other")))
        #expect(inner.cancelled == ["known", "other"])
        #expect(await d.status().slots == 7)
    }
}

// MARK: - Pricing

@Suite("AccountingDispatcher pricing")
struct AccountingPricingTests {
    @Test func claudesOwnFigureIsTheRunsCost() async throws {
        let usage = RunUsage(inputTokens: 1000, outputTokens: 7, cacheReadTokens: 0, cacheWriteTokens: 0)
        let inner = ScriptedDispatcher(usage: usage, cost: 0.0021)
        let ledger = InMemoryLedger()
        let result = await accounting(inner, ledger: ledger).submit(req("r1")) { _ in }

        #expect(result.costUSD == 0.0021)
        #expect(result.details["cost_source"] == "reported")
        let row = try #require(try await ledgerRows(ledger)["r1"])
        #expect(row.costUSD == 0.0021 && row.costSource == .reported)
        #expect(row.usage == TokenUsage(input: 1000, output: 7, cacheRead: 0, cacheWrite: 0))
    }

    @Test func geminiTokensArePricedWithCacheReadsTakenOutOfTheInput() async throws {
        // gemini reports prompt tokens including the 20k cached ones: 80k fresh × $0.10 + 20k cached × $0.01
        // + 10k output × $0.40 per Mtok = $0.008 + $0.0002 + $0.004 = $0.0122.
        let usage = RunUsage(inputTokens: 100_000, outputTokens: 10_000, cacheReadTokens: 20_000)
        let inner = ScriptedDispatcher(usage: usage)
        let ledger = InMemoryLedger()
        let result = await accounting(inner, ledger: ledger).submit(req("r1", task: "summarize-x")) { _ in }

        #expect(result.model == "gemini-2.5-flash-lite")
        #expect(near(result.costUSD, 0.0122))
        #expect(result.details["cost_source"] == "computed")
        let row = try #require(try await ledgerRows(ledger)["r1"])
        #expect(near(row.costUSD, 0.0122) && row.costSource == .computed)
        #expect(row.usage == TokenUsage(input: 80_000, output: 10_000, cacheRead: 20_000, cacheWrite: nil))
    }

    @Test func codexTokensArePricedWithCachedInputTakenOutOfTheInput() async throws {
        // codex's input_tokens include the cached ones: 315 fresh × $0.25 + 24,448 cached × $0.025 + 122 × $2
        // per Mtok = $0.00007875 + $0.0006112 + $0.000244 = $0.00093395.
        let inner = ScriptedDispatcher(usage: RunUsage(inputTokens: 24_763, outputTokens: 122, cacheReadTokens: 24_448))
        let result = await accounting(inner).submit(req("r1", adapter: "codex", model: "gpt-5-mini")) { _ in }
        #expect(near(result.costUSD, 0.00093395))
        #expect(result.details["cost_source"] == "computed")
    }

    @Test func claudeTokensWithoutAFigureAreBilledWithoutNormalising() async throws {
        // claude's input excludes cache reads: 1000 × $3 + 1000 cached × $0.30 + 100 × $15 per Mtok = $0.0048.
        let inner = ScriptedDispatcher(usage: RunUsage(inputTokens: 1000, outputTokens: 100, cacheReadTokens: 1000))
        let result = await accounting(inner).submit(req("r1")) { _ in }
        #expect(result.model == "sonnet")
        #expect(near(result.costUSD, 0.0048))
    }

    @Test func tokensForAnUnpricedModelLeaveTheCostUnknown() async throws {
        let inner = ScriptedDispatcher(usage: RunUsage(inputTokens: 500, outputTokens: 50))
        let ledger = InMemoryLedger()
        let result = await accounting(inner, ledger: ledger).submit(req("r1", adapter: "gemini", model: "gemini-9-ultra")) { _ in }
        #expect(result.costUSD == nil)
        #expect(result.details["cost_source"] == "unknown")
        let row = try #require(try await ledgerRows(ledger)["r1"])
        #expect(row.costUSD == nil && row.costSource == .unknown)
        #expect(row.usage.input == 500)
    }

    @Test func noFigureAndNoTokensLeaveTheCostUnknown() async throws {
        let inner = ScriptedDispatcher(status: .timeout)
        let ledger = InMemoryLedger()
        let result = await accounting(inner, ledger: ledger).submit(req("r1")) { _ in }
        #expect(result.costUSD == nil)
        let row = try #require(try await ledgerRows(ledger)["r1"])
        #expect(row.costUSD == nil && row.costSource == .unknown && !row.usage.isKnown)
        let report = CostReport.make(entries: [row], by: .agent, prices: .defaults, routing: .defaults)
        #expect(report.totals.unknownCostRuns == 1 && report.totals.spendUSD == 0)
    }
}

// MARK: - The ledger sees every run

@Suite("AccountingDispatcher ledger rows")
struct AccountingLedgerRowTests {
    @Test(arguments: [RunStatus.ok, .failed, .timeout, .cancelled])
    func aStartedRunIsRecordedWithItsStatus(_ status: RunStatus) async throws {
        let inner = ScriptedDispatcher(status: status, usage: RunUsage(inputTokens: 10, outputTokens: 1), cost: 0.001)
        let ledger = InMemoryLedger()
        let clock = TestClock(midDecember)
        let result = await accounting(inner, ledger: ledger, clock: clock).submit(req("run-\(status.rawValue)", task: "t-1")) { _ in }

        #expect(result.status == status)
        #expect(result.output == "answer of run-\(status.rawValue)")
        let rows = try await ledger.entries(since: 0)
        #expect(rows.count == 1)
        let row = try #require(rows.first)
        #expect(row.runID == "run-\(status.rawValue)")
        #expect(row.status == status.rawValue)
        #expect(row.agent == "cto" && row.task == "t-1")
        #expect(row.adapter == "claude" && row.model == "sonnet" && row.tier == .standard && row.rule == "default")
        #expect(row.costUSD == 0.001 && row.costSource == .reported)
        #expect(row.durationMs == 1234 && row.pod == "pod-a")
        #expect(row.time == midDecember)
    }

    @Test(arguments: [RunStatus.poolBusy, .rejected, .poolDraining, .poolUnreachable])
    func aRunThatNeverStartedIsRecordedAtZeroCost(_ status: RunStatus) async throws {
        // Even when the answer carries a stray figure, a run that never started cost nothing.
        let inner = ScriptedDispatcher { ScriptedDispatcher.notStarted($0, status, cost: 0.5) }
        let ledger = InMemoryLedger()
        let result = await accounting(inner, ledger: ledger).submit(req("r1", task: "t-2")) { _ in }

        #expect(result.status == status)
        #expect(result.details["cost_source"] == "not_run")
        let row = try #require(try await ledgerRows(ledger)["r1"])
        #expect(row.status == status.rawValue)
        #expect(row.costUSD == 0 && row.costSource == .notRun)
        #expect(row.task == "t-2" && row.agent == "cto")
    }

    @Test func aCallerWithoutAnAgentIsRecordedUnderNoAgent() async throws {
        let ledger = InMemoryLedger()
        _ = await accounting(ScriptedDispatcher(), ledger: ledger).submit(req("r1", agent: nil)) { _ in }
        #expect(try await ledgerRows(ledger)["r1"]?.agent == LedgerEntry.noAgent)
    }

    @Test func concurrentRunsAreAllRecorded() async throws {
        let ledger = InMemoryLedger()
        let d = accounting(ScriptedDispatcher(cost: 0.001), ledger: ledger)
        await withTaskGroup(of: Void.self) { g in
            for i in 0..<64 { g.addTask { _ = await d.submit(req("r\(i)")) { _ in } } }
        }
        let rows = try await ledger.entries(since: 0)
        #expect(rows.count == 64)
        #expect(near(try await ledger.spend(agent: "cto", since: 0), 0.064, tolerance: 1e-9))
        #expect(d.ledgerFailures == 0)
    }
}

// MARK: - Budgets

@Suite("AccountingDispatcher budgets")
struct AccountingBudgetTests {
    static func policy(daily: Double?, monthly: Double? = nil, _ onExceed: OnExceed) -> BudgetPolicy {
        BudgetPolicy(defaultLimits: BudgetLimits(dailyUSD: daily, monthlyUSD: monthly, onExceed: onExceed))
    }

    @Test func refuseAllowsTheRunThatCrossesTheBudgetAndRefusesTheNext() async throws {
        // $0.003 a day, $0.0021 a run: run 1 (spent 0) and run 2 (spent 0.0021, crosses) run; run 3 (spent 0.0042) is refused.
        let inner = ScriptedDispatcher(cost: 0.0021)
        let ledger = InMemoryLedger()
        let d = accounting(inner, ledger: ledger, budgets: Self.policy(daily: 0.003, .refuse))

        let first = await d.submit(req("r1")) { _ in }
        let second = await d.submit(req("r2")) { _ in }
        let events = Recorder<RunEvent>()
        let third = await d.submit(req("r3")) { events.append($0) }

        #expect(first.status == .ok && second.status == .ok)
        #expect(third.status == .budgetExceeded)
        #expect(third.message.contains("daily budget"))
        #expect(third.adapter == "claude" && third.model == "sonnet" && third.rule == "default" && third.tier == "standard")
        #expect(inner.received.map(\.runID) == ["r1", "r2"], "the refused run never reaches the pool")
        #expect(events.all.isEmpty)
        let rows = try await ledgerRows(ledger)
        #expect(rows.count == 3)
        let refused = try #require(rows["r3"])
        #expect(refused.status == "BUDGET_EXCEEDED")
        #expect(refused.costUSD == 0 && refused.costSource == .notRun)
        #expect(refused.agent == "cto" && refused.adapter == "claude")
    }

    @Test func downgradeMovesTheRunAfterTheCrossingOneToTheCheapTier() async throws {
        let inner = ScriptedDispatcher(cost: 0.0021)
        let ledger = InMemoryLedger()
        let d = accounting(inner, ledger: ledger, budgets: Self.policy(daily: 0.003, .downgrade))

        let first = await d.submit(req("r1")) { _ in }
        let second = await d.submit(req("r2")) { _ in }
        let third = await d.submit(req("r3")) { _ in }

        #expect(first.rule == "default" && second.rule == "default")
        #expect(second.model == "sonnet", "the crossing run is not downgraded")
        #expect(third.status == .ok)
        let sent = try #require(inner.received.last)
        #expect(sent.runID == "r3" && sent.adapter == "gemini" && sent.model == "gemini-2.5-flash-lite")
        #expect(third.tier == "cheap" && third.rule == "budget-downgrade")
        #expect(third.message.contains("downgraded to the cheap tier"))
        let row = try #require(try await ledgerRows(ledger)["r3"])
        #expect(row.rule == "budget-downgrade" && row.tier == .cheap && row.adapter == "gemini")
    }

    @Test func downgradeKeepsTheAdapterTheCallerNamed() async throws {
        let inner = ScriptedDispatcher(cost: 0.01)
        let d = accounting(inner, budgets: Self.policy(daily: 0.005, .downgrade))
        _ = await d.submit(req("r1", adapter: "claude")) { _ in }
        let second = await d.submit(req("r2", adapter: "claude")) { _ in }
        let sent = try #require(inner.received.last)
        #expect(sent.adapter == "claude" && sent.model == "haiku")
        #expect(second.rule == "budget-downgrade")
    }

    @Test(arguments: [OnExceed.refuse, .downgrade])
    func aZeroBudgetRefusesTheFirstRun(_ onExceed: OnExceed) async throws {
        let inner = ScriptedDispatcher(cost: 0.0021)
        let ledger = InMemoryLedger()
        let result = await accounting(inner, ledger: ledger, budgets: Self.policy(daily: 0, onExceed)).submit(req("r1")) { _ in }
        #expect(result.status == .budgetExceeded)
        #expect(inner.received.isEmpty)
        let row = try #require(try await ledgerRows(ledger)["r1"])
        #expect(row.status == "BUDGET_EXCEEDED" && row.costUSD == 0 && row.costSource == .notRun)
    }

    @Test func budgetsArePerAgent() async throws {
        let inner = ScriptedDispatcher(cost: 0.01)
        let d = accounting(inner, budgets: Self.policy(daily: 0.005, .refuse))
        _ = await d.submit(req("a1", agent: "cto")) { _ in }
        let ctoAgain = await d.submit(req("a2", agent: "cto")) { _ in }
        let cfo = await d.submit(req("b1", agent: "cfo")) { _ in }
        #expect(ctoAgain.status == .budgetExceeded)
        #expect(cfo.status == .ok)
    }

    @Test func yesterdaysSpendDoesNotCountAgainstTodaysBudgetButCountsForTheMonth() async throws {
        let clock = TestClock(midDecember)
        let ledger = InMemoryLedger([
            LedgerEntry(
                runID: "old", agent: "cto", task: "t", adapter: "claude", model: "sonnet", tier: .standard, rule: "default",
                status: "OK", costUSD: 1.0, costSource: .reported, time: midDecember - 86_400)
        ])
        let inner = ScriptedDispatcher(cost: 0.001)
        let daily = await accounting(inner, ledger: ledger, budgets: Self.policy(daily: 0.5, .refuse), clock: clock)
            .submit(req("r1")) { _ in }
        #expect(daily.status == .ok)
        let monthly = await accounting(inner, ledger: ledger, budgets: Self.policy(daily: nil, monthly: 0.5, .refuse), clock: clock)
            .submit(req("r2")) { _ in }
        #expect(monthly.status == .budgetExceeded)
        #expect(monthly.message.contains("monthly budget"))
    }
}

// MARK: - Ledger failures

@Suite("AccountingDispatcher ledger failures")
struct AccountingLedgerFailureTests {
    @Test func aFailedLedgerWriteStillReturnsTheResult() async throws {
        let inner = ScriptedDispatcher(cost: 0.0021)
        let ledger = InMemoryLedger()
        ledger.failNextCalls(with: LedgerError("disk I/O error"))
        let d = accounting(inner, ledger: ledger)

        let result = await d.submit(req("r1")) { _ in }

        #expect(result.status == .ok)
        #expect(result.output == "answer of r1")
        #expect(result.costUSD == 0.0021)
        #expect(d.ledgerFailures == 1)
        ledger.failNextCalls(with: nil)
        #expect(try await ledger.entries(since: 0).isEmpty)
    }

    @Test func aFailedLedgerWriteForARefusedRunStillRefuses() async throws {
        // The budget read works and refuses; only the write of the refusal fails.
        let ledger = InMemoryLedger()
        let reads = ReadsThenFails(ledger)
        let inner = ScriptedDispatcher()
        let d = AccountingDispatcher(
            inner: inner, ledger: reads, prices: .defaults, routing: .defaults,
            budgets: AccountingBudgetTests.policy(daily: 0, .refuse), adapters: AdapterSpec.defaults, logger: .discard,
            now: { midDecember })
        let result = await d.submit(req("r1")) { _ in }
        #expect(result.status == .budgetExceeded)
        #expect(inner.received.isEmpty)
        #expect(d.ledgerFailures == 1)
    }

    @Test func anUnreadableLedgerSkipsTheBudgetAndTheRunProceeds() async throws {
        // A zero budget would refuse; with the ledger unreadable the check fails open.
        let ledger = InMemoryLedger()
        ledger.failNextCalls(with: LedgerError("database is locked"))
        let inner = ScriptedDispatcher { req in
            // The ledger recovers while the run is going, so the record afterwards succeeds.
            ledger.failNextCalls(with: nil)
            return ScriptedDispatcher.started(req, cost: 0.0021)
        }
        let d = accounting(inner, ledger: ledger, budgets: AccountingBudgetTests.policy(daily: 0, .refuse))

        let result = await d.submit(req("r1")) { _ in }

        #expect(result.status == .ok)
        #expect(inner.received.map(\.runID) == ["r1"])
        #expect(d.ledgerFailures == 1)
        let row = try #require(try await ledgerRows(ledger)["r1"])
        #expect(row.status == "OK" && row.costUSD == 0.0021)
    }

    @Test func anUnreadableAndUnwritableLedgerCountsBothFailuresAndStillAnswers() async throws {
        let ledger = InMemoryLedger()
        ledger.failNextCalls(with: LedgerError("no such table"))
        let inner = ScriptedDispatcher(cost: 0.0021)
        let d = accounting(inner, ledger: ledger, budgets: AccountingBudgetTests.policy(daily: 0.003, .refuse))
        let result = await d.submit(req("r1")) { _ in }
        #expect(result.status == .ok && result.output == "answer of r1")
        #expect(d.ledgerFailures == 2)
    }
}

/// A ledger whose reads work and whose writes fail.
final class ReadsThenFails: Ledger {
    let inner: InMemoryLedger
    init(_ inner: InMemoryLedger) { self.inner = inner }
    func record(_ entry: LedgerEntry) async throws(LedgerError) { throw LedgerError("read-only file system") }
    func entries(since: Double) async throws(LedgerError) -> [LedgerEntry] { try await inner.entries(since: since) }
    func spend(agent: String, since: Double) async throws(LedgerError) -> Double { try await inner.spend(agent: agent, since: since) }
}
