import Costs
import JSON
import Testing

@Suite("Cost settings from the config file")
struct CostSettingsTests {
    func applied(_ text: String) throws -> CostSettings {
        let o = try JSON.parse(text)
        var s = CostSettings()
        try s.apply(prices: o["prices"], routing: o["routing"], budgets: o["budgets"])
        return s
    }

    func error(_ text: String) -> CostsConfigError? {
        do {
            _ = try applied(text)
            return nil
        } catch let e as CostsConfigError {
            return e
        } catch {
            Issue.record("unexpected \(error)")
            return nil
        }
    }

    @Test(arguments: [
        (#"{"prices": {"claude-sonnet-4-5": {"input": "three"}}}"#, "prices.claude-sonnet-4-5.input"),
        (#"{"prices": {"claude-sonnet-4-5": {"output": -1}}}"#, "prices.claude-sonnet-4-5.output"),
        (#"{"prices": {"my-model": {"input": 1}}}"#, "prices.my-model.output"),
        (#"{"prices": {"my-model": {"output": 1}}}"#, "prices.my-model.input"),
        (#"{"prices": {"my-model": {"input": 1, "output": 2, "per": "token"}}}"#, "prices.my-model.per"),
        (#"{"prices": {"my-model": {"input": 1, "output": 2, "as_of": "yesterday"}}}"#, "prices.my-model.as_of"),
        (#"{"prices": {"fast": {"alias_of": "nope"}}}"#, "prices.fast.alias_of"),
        (#"{"prices": {"fast": 3}}"#, "prices.fast"),
        (#"{"prices": {"claude-sonnet-4-5": null}}"#, "prices.sonnet"),
        (#"{"prices": []}"#, "prices"),
        (#"{"routing": {"default_tier": "premium"}}"#, "routing.default_tier"),
        (#"{"routing": {"rules": [{"task": "a*", "tier": "cheap"}, {"task": "b*", "tier": "gold"}]}}"#, "routing.rules[1].tier"),
        (#"{"routing": {"rules": [{"task": "", "tier": "cheap"}]}}"#, "routing.rules[0].task"),
        (#"{"routing": {"rules": [{"task": "a*", "tier": "cheap", "why": 1}]}}"#, "routing.rules[0].why"),
        (#"{"routing": {"rules": {"a*": "cheap"}}}"#, "routing.rules"),
        (#"{"routing": {"tiers": {"cheap": {"adapter": "gemini"}}}}"#, "routing.tiers.cheap.model"),
        (#"{"routing": {"tiers": {"ultra": {"adapter": "gemini", "model": "x"}}}}"#, "routing.tiers.ultra"),
        (#"{"routing": {"adapter_models": {"claude": {"cheap": 7}}}}"#, "routing.adapter_models.claude.cheap"),
        (#"{"routing": {"fallback": true}}"#, "routing.fallback"),
        (#"{"budgets": {"default": {"daily_usd": -5}}}"#, "budgets.default.daily_usd"),
        (#"{"budgets": {"default": {"on_exceed": "panic"}}}"#, "budgets.default.on_exceed"),
        (#"{"budgets": {"agents": {"cto": {"monthly_usd": "lots"}}}}"#, "budgets.agents.cto.monthly_usd"),
        (#"{"budgets": {"agents": {"cto": {"weekly_usd": 1}}}}"#, "budgets.agents.cto.weekly_usd"),
        (#"{"budgets": {"per_agent": {}}}"#, "budgets.per_agent"),
    ])
    func errorsNameTheKey(_ text: String, _ key: String) {
        #expect(error(text)?.key == key, "\(text)")
    }

    @Test func anErrorAppliesNothing() throws {
        var s = CostSettings()
        let o = try JSON.parse(#"{"prices": {"haiku": {"input": 9}}, "budgets": {"default": {"daily_usd": "x"}}}"#)
        #expect(throws: CostsConfigError.self) { try s.apply(prices: o["prices"], routing: nil, budgets: o["budgets"]) }
        #expect(s == CostSettings())
    }

    @Test func aModelsPricesAreOverriddenKeyByKey() throws {
        let s = try applied(#"{"prices": {"claude-sonnet-4-5": {"output": 14}}}"#)
        let p = s.prices.models["claude-sonnet-4-5"]!
        #expect((p.input, p.output, p.cacheRead, p.cacheWrite) == (3, 14, 0.30, 3.75))
        #expect(p.asOf == nil)  // a new figure without a date no longer carries the built-in date
        let dated = try applied(#"{"prices": {"claude-sonnet-4-5": {"output": 14, "as_of": "2027-01-05"}}}"#)
        #expect(dated.prices.models["claude-sonnet-4-5"]?.asOf == "2027-01-05")
    }

    @Test func pricesGivenUnderAnAliasChangeItsModel() throws {
        let s = try applied(#"{"prices": {"sonnet": {"input": 2.5}}}"#)
        #expect(s.prices.price(for: "claude-sonnet-4-5")?.input == 2.5)
        #expect(s.prices.aliases["sonnet"] == "claude-sonnet-4-5")
    }

    @Test func newModelsAndAliasesAreAdded() throws {
        let s = try applied(
            #"{"prices": {"fast": {"alias_of": "my-model"}, "my-model": {"input": 0.5, "output": 2, "as_of": "2026-12-01"}, "gpt-5-mini": null}}"#)
        let p = s.prices.price(for: "fast")!
        #expect((p.input, p.output, p.cacheRead, p.cacheWrite, p.asOf) == (0.5, 2, 0.5, 0.5, "2026-12-01"))
        #expect(s.prices.price(for: "gpt-5-mini") == nil)
    }

    @Test func routingRulesReplaceAndTiersMerge() throws {
        let s = try applied(
            #"""
            {"routing": {"default_tier": "cheap", "rules": [{"task": "design-*", "tier": "frontier"}],
              "tiers": {"cheap": {"adapter": "claude", "model": "haiku"}},
              "adapter_models": {"gemini": {"cheap": null}, "codex": null}}}
            """#)
        #expect(s.routing.rules == [RoutingRule("design-*", .frontier)])
        #expect(s.routing.defaultTier == .cheap)
        #expect(s.routing.tiers[.cheap] == TierTarget(adapter: "claude", model: "haiku"))
        #expect(s.routing.tiers[.frontier] == TierTarget(adapter: "claude", model: "opus"))
        #expect(s.routing.adapterModels["gemini"]?[.cheap] == nil)
        #expect(s.routing.adapterModels["gemini"]?[.frontier] == "gemini-2.5-pro")
        #expect(s.routing.adapterModels["codex"] == nil)
        #expect(s.routing.route(task: "summarize-logs", adapter: nil, modelHint: nil).rule == "default")
    }

    @Test func agentBudgetsStartFromTheDefault() throws {
        let s = try applied(
            #"""
            {"budgets": {"default": {"daily_usd": 5, "monthly_usd": 100, "on_exceed": "downgrade"},
              "agents": {"cto": {"daily_usd": 20, "on_exceed": "refuse"}, "intern": {"daily_usd": 0}, "ceo": {"monthly_usd": null}}}}
            """#)
        #expect(s.budgets.limits(for: "cfo") == BudgetLimits(dailyUSD: 5, monthlyUSD: 100, onExceed: .downgrade))
        #expect(s.budgets.limits(for: "cto") == BudgetLimits(dailyUSD: 20, monthlyUSD: 100, onExceed: .refuse))
        #expect(s.budgets.limits(for: "intern") == BudgetLimits(dailyUSD: 0, monthlyUSD: 100, onExceed: .downgrade))
        #expect(s.budgets.limits(for: "ceo") == BudgetLimits(dailyUSD: 5, monthlyUSD: nil, onExceed: .downgrade))
    }

    @Test func defaultsHaveNoBudgets() {
        #expect(CostSettings().budgets.limits(for: "anyone").isUnlimited)
    }

    @Test func thePrintedSectionsReadBackToTheSameSettings() throws {
        var s = try applied(
            #"""
            {"prices": {"fast": {"alias_of": "gpt-5"}, "x-1": {"input": 1, "output": 2}},
             "routing": {"rules": [{"task": "a?c*", "tier": "frontier"}]},
             "budgets": {"default": {"daily_usd": 1.5}, "agents": {"cto": {"monthly_usd": 10}}}}
            """#)
        var again = CostSettings(prices: PriceTable(), routing: RoutingPolicy(rules: [], tiers: [:], defaultTier: .cheap, adapterModels: [:]))
        try again.apply(prices: s.pricesJSON, routing: s.routingJSON, budgets: s.budgetsJSON)
        #expect(again == s)
        s.budgetAgents = [:]
        #expect(again != s)
    }
}
