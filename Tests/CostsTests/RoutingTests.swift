import Costs
import Testing

@Suite("Routing")
struct RoutingTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let task: String
        let adapter: String?
        let hint: String?
        let expected: Route
        var testDescription: String { "\(task) adapter=\(adapter ?? "-") hint=\(hint ?? "-")" }
    }

    static let cases: [Case] = [
        Case(task: "summarize-logs", adapter: nil, hint: nil,
             expected: Route(adapter: "gemini", model: "gemini-2.5-flash-lite", tier: .cheap, rule: "task:summarize*")),
        Case(task: "log-rotate", adapter: nil, hint: "auto",
             expected: Route(adapter: "gemini", model: "gemini-2.5-flash-lite", tier: .cheap, rule: "task:log-*")),
        Case(task: "extract-entities", adapter: nil, hint: "",
             expected: Route(adapter: "gemini", model: "gemini-2.5-flash-lite", tier: .cheap, rule: "task:extract*")),
        Case(task: "config-check-prod", adapter: nil, hint: nil,
             expected: Route(adapter: "gemini", model: "gemini-2.5-flash-lite", tier: .cheap, rule: "task:config-check*")),
        Case(task: "Summarize weekly report", adapter: nil, hint: nil,
             expected: Route(adapter: "gemini", model: "gemini-2.5-flash-lite", tier: .cheap, rule: "task:summarize*")),
        // Anchored: the pattern must match the whole label.
        Case(task: "pre-summarize", adapter: nil, hint: nil,
             expected: Route(adapter: "claude", model: "sonnet", tier: .standard, rule: "default")),
        Case(task: "design-api", adapter: nil, hint: nil,
             expected: Route(adapter: "claude", model: "sonnet", tier: .standard, rule: "default")),
        // An explicit adapter without a hint: that adapter's model for the tier.
        Case(task: "summarize-logs", adapter: "claude", hint: nil,
             expected: Route(adapter: "claude", model: "haiku", tier: .cheap, rule: "task:summarize*", adapterFromCaller: true)),
        Case(task: "design-api", adapter: "gemini", hint: nil,
             expected: Route(adapter: "gemini", model: "gemini-2.5-flash", tier: .standard, rule: "default", adapterFromCaller: true)),
        Case(task: "design-api", adapter: "codex", hint: "auto",
             expected: Route(adapter: "codex", model: "gpt-5-codex", tier: .standard, rule: "default", adapterFromCaller: true)),
        // An adapter with no tier models: its default model.
        Case(task: "summarize-logs", adapter: "command", hint: nil,
             expected: Route(adapter: "command", model: nil, tier: .cheap, rule: "task:summarize*", adapterFromCaller: true)),
        // An explicit hint wins over the task rules.
        Case(task: "summarize-logs", adapter: nil, hint: "opus",
             expected: Route(adapter: "claude", model: "opus", tier: .frontier, rule: "hint")),
        Case(task: "summarize-logs", adapter: "claude", hint: "opus",
             expected: Route(adapter: "claude", model: "opus", tier: .frontier, rule: "hint", adapterFromCaller: true)),
        Case(task: "anything", adapter: nil, hint: "gemini-2.5-pro",
             expected: Route(adapter: "gemini", model: "gemini-2.5-pro", tier: .frontier, rule: "hint")),
        Case(task: "anything", adapter: nil, hint: "my-custom-model",
             expected: Route(adapter: "claude", model: "my-custom-model", tier: nil, rule: "hint")),
    ]

    @Test(arguments: cases) func routesByHintTaskAndAdapter(_ c: Case) {
        #expect(RoutingPolicy.defaults.route(task: c.task, adapter: c.adapter, modelHint: c.hint) == c.expected)
    }

    @Test func theFirstMatchingRuleWins() {
        var policy = RoutingPolicy.defaults
        policy.rules = [RoutingRule("summarize-security*", .frontier), RoutingRule("summarize*", .cheap)]
        let r = policy.route(task: "summarize-security-audit", adapter: nil, modelHint: nil)
        #expect(r == Route(adapter: "claude", model: "opus", tier: .frontier, rule: "task:summarize-security*"))
        #expect(policy.route(task: "summarize-logs", adapter: nil, modelHint: nil).tier == .cheap)
    }

    @Test func theDefaultTierIsConfigurable() {
        var policy = RoutingPolicy.defaults
        policy.defaultTier = .cheap
        #expect(policy.route(task: "design-api", adapter: nil, modelHint: nil) == Route(adapter: "gemini", model: "gemini-2.5-flash-lite", tier: .cheap, rule: "default"))
    }

    @Test func aTierWithoutATargetUsesTheNearestOneBelow() {
        var policy = RoutingPolicy.defaults
        policy.tiers[.frontier] = nil
        policy.rules = [RoutingRule("design*", .frontier)]
        #expect(policy.route(task: "design-api", adapter: nil, modelHint: nil).model == "sonnet")
    }

    @Test func downgradeKeepsTheCallersAdapterElseUsesTheCheapTier() {
        let policy = RoutingPolicy.defaults
        let auto = policy.route(task: "design-api", adapter: nil, modelHint: nil)
        #expect(policy.downgrade(auto) == Route(adapter: "gemini", model: "gemini-2.5-flash-lite", tier: .cheap, rule: "budget-downgrade"))
        let named = policy.route(task: "design-api", adapter: "claude", modelHint: "opus")
        #expect(policy.downgrade(named) == Route(adapter: "claude", model: "haiku", tier: .cheap, rule: "budget-downgrade", adapterFromCaller: true))
        #expect(policy.downgrade(policy.route(task: "x", adapter: "command", modelHint: nil)) == nil)
    }

    @Test func frontierModelIsPerAdapter() {
        let policy = RoutingPolicy.defaults
        #expect(policy.frontierModel(adapter: "claude") == "opus")
        #expect(policy.frontierModel(adapter: "gemini") == "gemini-2.5-pro")
        #expect(policy.frontierModel(adapter: "codex") == "gpt-5")
        #expect(policy.frontierModel(adapter: "command") == nil)
    }

    @Test(arguments: [
        ("summarize*", "summarize", true), ("summarize*", "SUMMARIZE-x", true), ("summarize*", "x-summarize", false),
        ("log-*", "log-", true), ("log-*", "log", false), ("*-check", "config-check", true), ("a?c", "abc", true),
        ("a?c", "ac", false), ("a*b*c", "axxbyyc", true), ("a*b*c", "axxbyy", false), ("*", "", true), ("", "", true),
        ("", "x", false), ("**x", "abx", true),
    ])
    func globMatchesWholeLabelsCaseInsensitively(_ pattern: String, _ text: String, _ expected: Bool) {
        #expect(Glob.matches(pattern, text) == expected)
    }
}

@Suite("Routing over the adapters a pool has")
struct RestrictedRoutingTests {
    @Test func tiersOnAMissingAdapterMoveToAnAvailableOne() {
        let policy = RoutingPolicy.defaults.restricted(toAdapters: ["claude", "command"])
        #expect(policy.tiers[.cheap] == TierTarget(adapter: "claude", model: "haiku"))
        #expect(policy.tiers[.standard] == TierTarget(adapter: "claude", model: "sonnet"))
        #expect(policy.route(task: "summarize-logs", adapter: nil, modelHint: nil)
            == Route(adapter: "claude", model: "haiku", tier: .cheap, rule: "task:summarize*"))
    }

    @Test func theDefaultTiersAdapterIsPreferred() {
        var base = RoutingPolicy.defaults
        base.tiers[.cheap] = TierTarget(adapter: "missing", model: "m")
        base.tiers[.standard] = TierTarget(adapter: "gemini", model: "gemini-2.5-flash")
        let policy = base.restricted(toAdapters: ["claude", "gemini", "codex"])
        #expect(policy.tiers[.cheap] == TierTarget(adapter: "gemini", model: "gemini-2.5-flash-lite"))
    }

    @Test func aTierNoAvailableAdapterServesIsDropped() {
        let policy = RoutingPolicy.defaults.restricted(toAdapters: ["command"])
        #expect(policy.tiers.isEmpty)
        #expect(policy.route(task: "x", adapter: nil, modelHint: nil).adapter == "claude")  // last resort; the run then fails clearly
        #expect(RoutingPolicy.defaults.restricted(toAdapters: ["claude", "gemini", "codex"]) == RoutingPolicy.defaults)
    }
}
