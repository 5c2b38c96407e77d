/// How capable (and how expensive) a model a task gets.
public enum Tier: String, Sendable, CaseIterable, Comparable {
    case cheap
    case standard
    case frontier

    public static func < (a: Tier, b: Tier) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// An adapter and one of its models.
public struct TierTarget: Sendable, Equatable {
    public var adapter: String
    public var model: String

    public init(adapter: String, model: String) {
        self.adapter = adapter
        self.model = model
    }
}

/// "Tasks whose label matches `pattern` go to `tier`."
public struct RoutingRule: Sendable, Equatable {
    /// A glob on the task label: `*` any run of characters, `?` one character; case-insensitive,
    /// anchored at both ends (`summarize*` matches `Summarize-logs`, not `pre-summarize`).
    public var pattern: String
    public var tier: Tier

    public init(_ pattern: String, _ tier: Tier) {
        self.pattern = pattern
        self.tier = tier
    }

    public func matches(_ task: String) -> Bool { Glob.matches(pattern, task) }
}

/// What routing decided for one run.
public struct Route: Sendable, Equatable {
    public var adapter: String
    /// Nil: the adapter's default model (it has no model for the tier).
    public var model: String?
    /// Nil when an explicit hint names a model outside the tier table.
    public var tier: Tier?
    /// Which rule chose the model: `hint`, `task:<pattern>`, `default`, or `budget-downgrade`.
    public var rule: String
    /// The caller named the adapter, so a downgrade keeps it.
    public var adapterFromCaller: Bool

    public init(adapter: String, model: String?, tier: Tier?, rule: String, adapterFromCaller: Bool = false) {
        self.adapter = adapter
        self.model = model
        self.tier = tier
        self.rule = rule
        self.adapterFromCaller = adapterFromCaller
    }
}

/// Maps a task to a tier, and a tier to an adapter and model.
///
/// - An explicit model hint (anything but empty or `auto`) wins: the route says `rule: "hint"`.
/// - Otherwise the first rule whose pattern matches the task label picks the tier
///   (`rule: "task:<pattern>"`), else `defaultTier` (`rule: "default"`).
/// - The tier maps to `tiers[tier]` (adapter + model) when the caller named no adapter; when the
///   caller named one, to that adapter's model for the tier (`adapterModels`), or its default model.
public struct RoutingPolicy: Sendable, Equatable {
    /// Ordered; the first match wins.
    public var rules: [RoutingRule]
    /// Where each tier runs when the caller names no adapter.
    public var tiers: [Tier: TierTarget]
    public var defaultTier: Tier
    /// Each adapter's model for each tier, used when the caller names the adapter (and to find the
    /// frontier model a run is compared against in reports).
    public var adapterModels: [String: [Tier: String]]

    public init(rules: [RoutingRule], tiers: [Tier: TierTarget], defaultTier: Tier, adapterModels: [String: [Tier: String]]) {
        self.rules = rules
        self.tiers = tiers
        self.defaultTier = defaultTier
        self.adapterModels = adapterModels
    }

    public static let defaults = RoutingPolicy(
        rules: [
            RoutingRule("summarize*", .cheap), RoutingRule("log-*", .cheap), RoutingRule("extract*", .cheap),
            RoutingRule("config-check*", .cheap),
        ],
        tiers: [
            .cheap: TierTarget(adapter: "gemini", model: "gemini-2.5-flash-lite"),
            .standard: TierTarget(adapter: "claude", model: "sonnet"),
            .frontier: TierTarget(adapter: "claude", model: "opus"),
        ],
        defaultTier: .standard,
        adapterModels: [
            "claude": [.cheap: "haiku", .standard: "sonnet", .frontier: "opus"],
            "gemini": [.cheap: "gemini-2.5-flash-lite", .standard: "gemini-2.5-flash", .frontier: "gemini-2.5-pro"],
            "codex": [.cheap: "gpt-5-mini", .standard: "gpt-5-codex", .frontier: "gpt-5"],
        ])

    /// The tier a task label falls in, and the rule that said so.
    public func tier(forTask task: String) -> (tier: Tier, rule: String) {
        if let r = rules.first(where: { $0.matches(task) }) { return (r.tier, "task:\(r.pattern)") }
        return (defaultTier, "default")
    }

    /// Where a run goes. `adapter` nil: the caller named none; `modelHint` nil, empty or `auto`: route by task.
    public func route(task: String, adapter: String?, modelHint: String?) -> Route {
        let explicitAdapter = adapter.flatMap { $0.isEmpty ? nil : $0 }
        if let hint = modelHint, !hint.isEmpty, hint != "auto" {
            let chosen = explicitAdapter ?? self.adapter(owning: hint) ?? tiers[defaultTier]?.adapter ?? "claude"
            return Route(adapter: chosen, model: hint, tier: tier(ofModel: hint, adapter: chosen), rule: "hint", adapterFromCaller: explicitAdapter != nil)
        }
        let (tier, rule) = self.tier(forTask: task)
        return Route(target(for: tier, adapter: explicitAdapter), tier: tier, rule: rule, adapterFromCaller: explicitAdapter != nil)
    }

    /// Where `tier` runs: on `adapter` when given (its model for the tier, or nil for its default), else `tiers[tier]`.
    public func target(for tier: Tier, adapter: String?) -> (adapter: String, model: String?) {
        if let adapter { return (adapter, adapterModels[adapter]?[tier]) }
        if let t = tiers[tier] { return (t.adapter, t.model) }
        // A tier left out of the config: the nearest configured one below it, else above it.
        let order = Tier.allCases.filter { $0 <= tier }.reversed() + Tier.allCases.filter { $0 > tier }
        for other in order { if let t = tiers[other] { return (t.adapter, t.model) } }
        return ("claude", nil)
    }

    /// The same run moved to the cheap tier: on the caller's adapter when the caller named one (nil
    /// when that adapter has no cheap model), else on `tiers[.cheap]`.
    public func downgrade(_ route: Route) -> Route? {
        if route.adapterFromCaller {
            guard let model = adapterModels[route.adapter]?[.cheap] else { return nil }
            return Route(adapter: route.adapter, model: model, tier: .cheap, rule: "budget-downgrade", adapterFromCaller: true)
        }
        guard let t = tiers[.cheap] else { return nil }
        return Route(adapter: t.adapter, model: t.model, tier: .cheap, rule: "budget-downgrade")
    }

    /// This policy with every tier target on an adapter outside `available` (say, its CLI is not
    /// installed) moved to the same tier on an available adapter — the default tier's adapter first,
    /// then by name — using `adapterModels`; a tier no available adapter has a model for is dropped
    /// (it then uses the nearest configured tier). Rules, the default tier and `adapterModels` are kept.
    public func restricted(toAdapters available: Set<String>) -> RoutingPolicy {
        var copy = self
        var preference = adapterModels.keys.sorted()
        if let first = tiers[defaultTier]?.adapter, let i = preference.firstIndex(of: first) {
            preference.remove(at: i)
            preference.insert(first, at: 0)
        }
        for tier in Tier.allCases {
            guard let target = tiers[tier], !available.contains(target.adapter) else { continue }
            copy.tiers[tier] = preference.lazy.filter { available.contains($0) }
                .compactMap { a in self.adapterModels[a]?[tier].map { TierTarget(adapter: a, model: $0) } }.first
        }
        return copy
    }

    /// The model the frontier tier uses on `adapter`, for "what would this have cost on frontier".
    public func frontierModel(adapter: String) -> String? {
        if let m = adapterModels[adapter]?[.frontier] { return m }
        if let t = tiers[.frontier], t.adapter == adapter { return t.model }
        return nil
    }

    /// The tier `model` serves on `adapter`, if the tables say.
    public func tier(ofModel model: String, adapter: String) -> Tier? {
        if let models = adapterModels[adapter], let tier = Tier.allCases.first(where: { models[$0] == model }) { return tier }
        return Tier.allCases.first { tiers[$0]?.adapter == adapter && tiers[$0]?.model == model }
    }

    /// The adapter whose tier table lists `model`, preferring the tier targets.
    func adapter(owning model: String) -> String? {
        if let t = Tier.allCases.lazy.compactMap({ self.tiers[$0] }).first(where: { $0.model == model }) { return t.adapter }
        return adapterModels.keys.sorted().first { adapterModels[$0]!.values.contains(model) }
    }
}

extension Route {
    fileprivate init(_ target: (adapter: String, model: String?), tier: Tier?, rule: String, adapterFromCaller: Bool) {
        self.init(adapter: target.adapter, model: target.model, tier: tier, rule: rule, adapterFromCaller: adapterFromCaller)
    }
}

/// Glob matching on task labels: `*` and `?`, case-insensitive, whole string.
public enum Glob {
    public static func matches(_ pattern: String, _ text: String) -> Bool {
        let p = Array(pattern.lowercased()), t = Array(text.lowercased())
        var pi = 0, ti = 0
        var star = -1, mark = 0
        while ti < t.count {
            if pi < p.count, p[pi] == "?" || p[pi] == t[ti], p[pi] != "*" {
                pi += 1
                ti += 1
            } else if pi < p.count, p[pi] == "*" {
                star = pi
                mark = ti
                pi += 1
            } else if star >= 0 {
                pi = star + 1
                mark += 1
                ti = mark
            } else {
                return false
            }
        }
        while pi < p.count, p[pi] == "*" { pi += 1 }
        return pi == p.count
    }
}
