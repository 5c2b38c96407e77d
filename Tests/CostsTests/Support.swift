import Costs
import Testing

/// 2026-12-01 00:00:00 UTC and the next day, checked with Python's datetime.
let dec1: Double = 1_796_083_200
let dec2: Double = 1_796_169_600

func close(_ a: Double?, _ b: Double, tolerance: Double = 1e-12) -> Bool {
    guard let a else { return false }
    return abs(a - b) <= tolerance
}

func entry(
    _ id: String, agent: String = "cto", task: String = "t", adapter: String = "claude", model: String? = "sonnet",
    tier: Tier? = .standard, rule: String = "default", status: String = "OK", usage: TokenUsage = TokenUsage(),
    cost: Double? = nil, source: CostSource? = nil, at time: Double = dec1 + 3600
) -> LedgerEntry {
    LedgerEntry(
        runID: id, agent: agent, task: task, adapter: adapter, model: model, tier: tier, rule: rule, status: status,
        usage: usage, costUSD: cost, costSource: source ?? (cost == nil ? .unknown : .computed), durationMs: 1200,
        pod: "local", time: time)
}

/// Five runs over two days, with every cost and token case; the expected figures are worked out by
/// hand in `CostReportTests`.
let fixture: [LedgerEntry] = [
    // $0.014 = 100k × $0.10 + 10k × $0.40 per Mtok; frontier gemini-2.5-pro: 100k × 1.25 + 10k × 10 = $0.225.
    entry(
        "r1", agent: "cto", task: "summarize-logs", adapter: "gemini", model: "gemini-2.5-flash-lite", tier: .cheap,
        rule: "task:summarize*", usage: TokenUsage(input: 100_000, output: 10_000), cost: 0.014, at: dec1 + 600),
    // Reported $0.03; frontier opus: 2k × 5 + 1k × 25 + 10k cache reads × 0.5 = $0.04.
    entry(
        "r2", agent: "cto", task: "design-api", adapter: "claude", model: "sonnet",
        usage: TokenUsage(input: 2000, output: 1000, cacheRead: 10_000, cacheWrite: 0), cost: 0.03, source: .reported,
        at: dec1 + 7200),
    // On the frontier model itself: $0.03 = 1k × 5 + 1k × 25, saving $0.
    entry(
        "r3", agent: "fullstack", task: "design-api", adapter: "claude", model: "opus", tier: .frontier,
        usage: TokenUsage(input: 1000, output: 1000), cost: 0.03, at: dec2 + 60),
    // A failed run without tokens: unknown cost, no saving.
    entry(
        "r4", agent: "fullstack", task: "summarize-logs", adapter: "gemini", model: "gemini-2.5-flash-lite", tier: .cheap,
        status: "FAILED", at: dec2 + 120),
    // Tokens but no price for the model: unknown cost, no saving.
    entry(
        "r5", agent: "cfo", task: "log-triage", adapter: "codex", model: "gpt-9", tier: nil, rule: "hint",
        usage: TokenUsage(input: 1000, output: 100), at: dec2 + 180),
]
