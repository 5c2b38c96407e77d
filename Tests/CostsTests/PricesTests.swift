import Costs
import Testing

@Suite("Cost of a run")
struct PricesTests {
    let prices = PriceTable.defaults

    @Test func claudesOwnFigureIsUsedAsReported() {
        let usage = TokenUsage(input: 1000, output: 500, cacheRead: 20_000, cacheWrite: 4000)
        let cost = prices.cost(usage: usage, model: "sonnet", reported: 0.0421)
        #expect(cost.usd == 0.0421)
        #expect(cost.source == .reported)
    }

    @Test func claudeTokensArePricedWhenNoFigureIsReported() {
        // 1k × $3 + 500 × $15 + 20k × $0.30 + 4k × $3.75 per Mtok = 3000 + 7500 + 6000 + 15000 µ$ = $0.0315
        let usage = TokenUsage(input: 1000, output: 500, cacheRead: 20_000, cacheWrite: 4000)
        let cost = prices.cost(usage: usage, model: "sonnet", reported: nil)
        #expect(close(cost.usd, 0.0315))
        #expect(cost.source == .computed)
    }

    @Test func geminiTokenCountsArePricedWithCacheReadsTakenOutOfTheInput() {
        // Gemini reports prompt 12,000 including 2,000 cached, and 3,000 output (candidates + thoughts).
        let usage = TokenUsage(input: 12_000, output: 3000, cacheRead: 2000, cacheWrite: nil, inputIncludesCacheReads: true)
        #expect(usage == TokenUsage(input: 10_000, output: 3000, cacheRead: 2000))
        // 10k × $0.30 + 3k × $2.50 + 2k × $0.03 per Mtok = 3000 + 7500 + 60 µ$ = $0.01056
        let cost = prices.cost(usage: usage, model: "gemini-2.5-flash", reported: nil)
        #expect(close(cost.usd, 0.01056))
        #expect(cost.source == .computed)
    }

    @Test func flashLiteIsPricedFromItsOwnRow() {
        // 1M × $0.10 + 1M × $0.40 = $0.50
        let cost = prices.cost(usage: TokenUsage(input: 1_000_000, output: 1_000_000), model: "gemini-2.5-flash-lite", reported: nil)
        #expect(close(cost.usd, 0.50))
    }

    @Test func unknownTokensLeaveTheCostUnknown() {
        #expect(prices.cost(usage: nil, model: "sonnet", reported: nil).usd == nil)
        #expect(prices.cost(usage: nil, model: "sonnet", reported: nil).source == .unknown)
        #expect(prices.cost(usage: TokenUsage(), model: "sonnet", reported: nil).source == .unknown)
    }

    @Test func anUnpricedModelLeavesTheCostUnknown() {
        let cost = prices.cost(usage: TokenUsage(input: 1000, output: 10), model: "gpt-9", reported: nil)
        #expect(cost.usd == nil)
        #expect(cost.source == .unknown)
        #expect(prices.cost(usage: TokenUsage(input: 1000), model: nil, reported: nil).source == .unknown)
    }

    @Test func aNonsenseReportedFigureFallsBackToTokens() {
        let usage = TokenUsage(input: 1_000_000)
        #expect(prices.cost(usage: usage, model: "haiku", reported: -1).source == .computed)
        #expect(close(prices.cost(usage: usage, model: "haiku", reported: .nan).usd, 1.0))
    }

    @Test func aliasesAndDatedIDsResolveToTheirModel() {
        #expect(prices.canonicalModel("haiku") == "claude-haiku-4-5")
        #expect(prices.canonicalModel("opus") == "claude-opus-4-5")
        #expect(prices.canonicalModel("claude-sonnet-4-5-20250929") == "claude-sonnet-4-5")
        #expect(prices.canonicalModel("Gemini-2.5-Pro") == "gemini-2.5-pro")
        #expect(prices.canonicalModel("claude-sonnet-4-5-2025") == nil)
        #expect(prices.canonicalModel("gpt-9") == nil)
    }

    @Test func defaultPricesMatchThePublishedTables() {
        let sonnet = prices.price(for: "sonnet")!
        #expect((sonnet.input, sonnet.output, sonnet.cacheRead, sonnet.cacheWrite) == (3, 15, 0.30, 3.75))
        let opus = prices.price(for: "claude-opus-4-5")!
        #expect((opus.input, opus.output, opus.cacheRead, opus.cacheWrite) == (5, 25, 0.50, 6.25))
        let haiku = prices.price(for: "haiku")!
        #expect((haiku.input, haiku.output, haiku.cacheRead, haiku.cacheWrite) == (1, 5, 0.10, 1.25))
        let pro = prices.price(for: "gemini-2.5-pro")!
        #expect((pro.input, pro.output) == (1.25, 10))
        for model in ["claude-haiku-4-5", "gemini-2.5-flash", "gpt-5", "gpt-5-codex", "gpt-5-mini"] {
            #expect(prices.price(for: model)?.asOf == "2026-12-04", "\(model) has no as_of date")
            #expect(prices.price(for: model)?.source?.hasPrefix("https://") == true)
        }
    }

    @Test func inputIncludingCacheReadsNeverGoesNegative() {
        let usage = TokenUsage(input: 100, output: 1, cacheRead: 500, cacheWrite: nil, inputIncludesCacheReads: true)
        #expect(usage.input == 0)
        let claude = TokenUsage(input: 100, output: 1, cacheRead: 500, cacheWrite: nil, inputIncludesCacheReads: false)
        #expect(claude.input == 100)
    }
}
