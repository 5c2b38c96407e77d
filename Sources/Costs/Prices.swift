/// Token counts of one run, as the ledger and the price table understand them.
///
/// `input` is the input billed at the full rate: it does NOT include tokens read from or written to
/// the prompt cache (Anthropic's convention). Adapters that report input including cache reads
/// (Gemini's `prompt`, OpenAI/Codex's `input_tokens`) are normalized by
/// `init(input:output:cacheRead:cacheWrite:inputIncludesCacheReads:)`. Any count may be unknown.
public struct TokenUsage: Sendable, Equatable {
    public var input: Int?
    public var output: Int?
    public var cacheRead: Int?
    public var cacheWrite: Int?

    public init(input: Int? = nil, output: Int? = nil, cacheRead: Int? = nil, cacheWrite: Int? = nil) {
        self.input = input
        self.output = output
        self.cacheRead = cacheRead
        self.cacheWrite = cacheWrite
    }

    /// Counts as an adapter reported them. When `inputIncludesCacheReads` (Gemini, Codex), the cache
    /// reads are taken out of `input` so they are not billed twice.
    public init(input: Int?, output: Int?, cacheRead: Int?, cacheWrite: Int?, inputIncludesCacheReads: Bool) {
        var fresh = input
        if inputIncludesCacheReads, let i = input, let c = cacheRead { fresh = max(0, i - c) }
        self.init(input: fresh, output: output, cacheRead: cacheRead, cacheWrite: cacheWrite)
    }

    /// True when the adapter reported at least one count; a run without counts has unknown tokens.
    public var isKnown: Bool { input != nil || output != nil || cacheRead != nil || cacheWrite != nil }

    /// All tokens (unknown counts as 0).
    public var total: Int { (input ?? 0) + (output ?? 0) + (cacheRead ?? 0) + (cacheWrite ?? 0) }
}

/// Where a run's cost came from.
public enum CostSource: String, Sendable, CaseIterable {
    /// The adapter's own figure (claude's `total_cost_usd`).
    case reported
    /// Tokens × the price table.
    case computed
    /// No figure, and no tokens or no price for the model.
    case unknown
    /// The run never started (refused, busy, over budget), so it cost nothing: record `costUSD: 0`.
    case notRun = "not_run"
}

/// One model's prices in US dollars per million tokens, and when they were taken.
public struct ModelPrice: Sendable, Equatable {
    public var input: Double
    public var output: Double
    public var cacheRead: Double
    /// Writing to the prompt cache (Anthropic's 5-minute rate; the input rate where writes cost nothing extra).
    public var cacheWrite: Double
    /// The day the prices were read from the source, `YYYY-MM-DD`.
    public var asOf: String?
    /// Where they were read (a pricing page).
    public var source: String?

    public init(input: Double, output: Double, cacheRead: Double, cacheWrite: Double, asOf: String? = nil, source: String? = nil) {
        self.input = input
        self.output = output
        self.cacheRead = cacheRead
        self.cacheWrite = cacheWrite
        self.asOf = asOf
        self.source = source
    }

    /// The dollar cost of `usage` (unknown counts as 0).
    public func cost(of usage: TokenUsage) -> Double {
        let micro =
            Double(usage.input ?? 0) * input + Double(usage.output ?? 0) * output
            + Double(usage.cacheRead ?? 0) * cacheRead + Double(usage.cacheWrite ?? 0) * cacheWrite
        return micro / 1_000_000
    }
}

/// Prices per model, with aliases (`sonnet` → `claude-sonnet-4-5`).
public struct PriceTable: Sendable, Equatable {
    /// Prices by canonical model id.
    public var models: [String: ModelPrice]
    /// Other names for a model (CLI aliases), resolved before the lookup.
    public var aliases: [String: String]

    public init(models: [String: ModelPrice] = [:], aliases: [String: String] = [:]) {
        self.models = models
        self.aliases = aliases
    }

    /// The model id `name` is priced under: itself, its alias target, or — for a dated id such as
    /// `claude-sonnet-4-5-20250929` — the id without the date. Nil when the table does not know it.
    public func canonicalModel(_ name: String) -> String? {
        if models[name] != nil { return name }
        if let target = aliases[name], models[target] != nil { return target }
        let lower = name.lowercased()
        if lower != name { return canonicalModel(lower) }
        // A date suffix: -YYYYMMDD or @YYYYMMDD.
        if let cut = name.lastIndex(where: { $0 == "-" || $0 == "@" }) {
            let suffix = name[name.index(after: cut)...]
            if suffix.count == 8, suffix.allSatisfy(\.isASCIIDigit) { return canonicalModel(String(name[..<cut])) }
        }
        return nil
    }

    public func price(for model: String) -> ModelPrice? {
        canonicalModel(model).flatMap { models[$0] }
    }

    /// The cost of one run: the adapter's own figure when it gave one, else tokens × price, else unknown.
    public func cost(usage: TokenUsage?, model: String?, reported: Double?) -> (usd: Double?, source: CostSource) {
        if let reported, reported.isFinite, reported >= 0 { return (reported, .reported) }
        if let usd = tokenCost(usage: usage, model: model) { return (usd, .computed) }
        return (nil, .unknown)
    }

    /// Tokens × price; nil when the tokens are unknown or the model has no price.
    public func tokenCost(usage: TokenUsage?, model: String?) -> Double? {
        guard let usage, usage.isKnown, let model, let price = price(for: model) else { return nil }
        return price.cost(of: usage)
    }

    /// The built-in prices: the current Claude, Gemini and OpenAI (Codex) models, standard tier, prompts
    /// under 200k tokens. Checked on 2026-12-04 against the sources named in each entry.
    public static let defaults: PriceTable = {
        let anthropic = "https://platform.claude.com/docs/en/about-claude/pricing"
        let google = "https://ai.google.dev/gemini-api/docs/pricing"
        let openai = "https://openai.com/api/pricing/"
        let day = "2026-12-04"
        func p(_ i: Double, _ o: Double, _ r: Double, _ w: Double, _ src: String) -> ModelPrice {
            ModelPrice(input: i, output: o, cacheRead: r, cacheWrite: w, asOf: day, source: src)
        }
        return PriceTable(
            models: [
                // Anthropic: cache write is the 5-minute rate (1.25× input), cache read 0.1× input.
                "claude-haiku-4-5": p(1, 5, 0.10, 1.25, anthropic),
                "claude-sonnet-4-5": p(3, 15, 0.30, 3.75, anthropic),
                "claude-opus-4-5": p(5, 25, 0.50, 6.25, anthropic),
                // Google: implicit caching has no write surcharge, so writes are billed as input.
                "gemini-2.5-flash-lite": p(0.10, 0.40, 0.01, 0.10, google),
                "gemini-2.5-flash": p(0.30, 2.50, 0.03, 0.30, google),
                "gemini-2.5-pro": p(1.25, 10, 0.125, 1.25, google),
                // OpenAI: cached input is 0.1× input; no cache-write surcharge.
                "gpt-5": p(1.25, 10, 0.125, 1.25, openai),
                "gpt-5-codex": p(1.25, 10, 0.125, 1.25, openai),
                "gpt-5-mini": p(0.25, 2, 0.025, 0.25, openai),
            ],
            aliases: ["haiku": "claude-haiku-4-5", "sonnet": "claude-sonnet-4-5", "opus": "claude-opus-4-5"])
    }()
}

extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
