import Costs
import JSON
import Log
import Synchronization

/// Puts cost control around a pool: routes a run to a tier's adapter and model, applies the
/// caller's budget, prices the result and records every run in the ledger.
///
/// It sits on the caller's side (the MCP server or `super-agent run`), so the ledger sees remote
/// and embedded runs alike and a budget is checked where the agent is. A ledger failure is logged
/// and counted; it never costs the caller the run's result.
public final class AccountingDispatcher: RunDispatcher {
    /// The adapter name that asks the routing policy to choose.
    public static let autoAdapter = "auto"

    private let inner: any RunDispatcher
    private let ledger: any Ledger
    private let prices: PriceTable
    private let routing: RoutingPolicy
    private let budgets: BudgetPolicy
    /// Adapters whose output reports input tokens including cache reads (gemini, codex).
    private let inclusiveInputAdapters: Set<String>
    private let logger: Logger
    private let now: @Sendable () -> Double
    private let failures = Atomic<Int>(0)

    public init(
        inner: any RunDispatcher, ledger: any Ledger, prices: PriceTable, routing: RoutingPolicy, budgets: BudgetPolicy,
        adapters: [AdapterSpec], logger: Logger, now: @escaping @Sendable () -> Double
    ) {
        self.inner = inner
        self.ledger = ledger
        self.prices = prices
        self.routing = routing
        self.budgets = budgets
        self.inclusiveInputAdapters = Set(adapters.filter { $0.output == .geminiJSON || $0.output == .codexJSONL }.map(\.name))
        self.logger = logger
        self.now = now
    }

    /// Ledger reads or writes that failed since start (their runs still answered).
    public var ledgerFailures: Int { failures.load(ordering: .relaxed) }

    public func submit(_ request: RunRequest, events: @escaping @Sendable (RunEvent) -> Void) async -> RunResult {
        let agent = request.callerAgent ?? LedgerEntry.noAgent
        let named = request.adapter == Self.autoAdapter ? nil : request.adapter
        var route = routing.route(task: request.task, adapter: named, modelHint: request.model)
        var notes: [String] = []
        do {
            switch try await budgets.check(agent: agent, route: route, ledger: ledger, now: now()) {
            case .allow(let r): route = r
            case .downgrade(let r, let reason):
                route = r
                notes.append(reason)
            case .refuse(let reason):
                var refused = RunResult.refused(.budgetExceeded, request, message: reason)
                refused.adapter = route.adapter
                refused.model = route.model
                refused.tier = route.tier?.rawValue
                refused.rule = route.rule
                refused.costUSD = 0
                refused.details["cost_source"] = .string(CostSource.notRun.rawValue)
                await record(refused, agent: agent, usage: nil, cost: (0, .notRun))
                return refused
            }
        } catch {
            // Fail open: an unreadable ledger must not stop work; it is logged and counted.
            failures.add(1, ordering: .relaxed)
            logger.warning("ledger unreadable; budget not checked", ["run_id": .string(request.runID), "error": .string(error.message)])
        }
        var routed = request
        routed.adapter = route.adapter
        routed.model = route.model
        var result = await inner.submit(routed, events: events)
        result.tier = route.tier?.rawValue
        result.rule = route.rule
        if !notes.isEmpty { result.message = (notes + [result.message]).filter { !$0.isEmpty }.joined(separator: "; ") }
        let usage = result.usage.map {
            TokenUsage(
                input: $0.inputTokens, output: $0.outputTokens, cacheRead: $0.cacheReadTokens, cacheWrite: $0.cacheWriteTokens,
                inputIncludesCacheReads: inclusiveInputAdapters.contains(result.adapter))
        }
        // Runs that never started cost nothing; the others cost the adapter's own figure or tokens × price.
        let cost = result.started ? prices.cost(usage: usage, model: result.model, reported: result.costUSD) : (usd: 0.0, source: CostSource.notRun)
        if result.started { result.costUSD = cost.usd }
        result.details["cost_source"] = .string(cost.source.rawValue)
        await record(result, agent: agent, usage: usage, cost: cost)
        return result
    }

    public func cancel(runID: String) async -> Bool { await inner.cancel(runID: runID) }

    public func status() async -> PoolStatus { await inner.status() }

    private func record(_ r: RunResult, agent: String, usage: TokenUsage?, cost: (usd: Double?, source: CostSource)) async {
        let entry = LedgerEntry(
            runID: r.runID, agent: agent, task: r.task, adapter: r.adapter, model: r.model, tier: r.tier.flatMap(Tier.init(rawValue:)),
            rule: r.rule ?? "", status: r.status.rawValue, usage: usage ?? TokenUsage(), costUSD: cost.usd, costSource: cost.source,
            durationMs: r.durationMs, pod: r.pod, time: now())
        do { try await ledger.record(entry) } catch {
            failures.add(1, ordering: .relaxed)
            logger.error("ledger write failed; the run's result is still returned", ["run_id": .string(r.runID), "error": .string(error.message)])
        }
    }
}
