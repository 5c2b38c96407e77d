import JSON

/// A `prices`, `routing` or `budgets` setting that cannot be used; `key` is its dotted path.
public struct CostsConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public let key: String
    public let expected: String
    public init(key: String, expected: String) {
        self.key = key
        self.expected = expected
    }
    public var description: String { "\(key) must be \(expected)" }
}

/// The cost half of the configuration: the price table, the routing policy and the budgets, read
/// from the config file's `prices`, `routing` and `budgets` sections over the built-in defaults.
///
/// ```json
/// {
///   "prices": {
///     "claude-sonnet-4-5": {"output": 15, "as_of": "2026-12-04"},
///     "my-model": {"input": 0.5, "output": 2, "cache_read": 0.05, "cache_write": 0.5, "as_of": "2026-12-01"},
///     "fast": {"alias_of": "my-model"},
///     "gpt-5-mini": null
///   },
///   "routing": {
///     "default_tier": "standard",
///     "rules": [{"task": "summarize*", "tier": "cheap"}, {"task": "design-*", "tier": "frontier"}],
///     "tiers": {"cheap": {"adapter": "gemini", "model": "gemini-2.5-flash-lite"}},
///     "adapter_models": {"claude": {"cheap": "haiku"}}
///   },
///   "budgets": {
///     "default": {"daily_usd": 5, "monthly_usd": 100, "on_exceed": "downgrade"},
///     "agents": {"cto": {"daily_usd": 20, "on_exceed": "refuse"}, "intern": {"daily_usd": 0}}
///   }
/// }
/// ```
///
/// - `prices.<model>`: dollars per million tokens. For a model already in the table, the keys given
///   replace those prices; a new model needs `input` and `output` (`cache_read` and `cache_write`
///   default to `input`). `alias_of` makes the name another name for a priced model (prices given
///   under an alias change its model); `null` removes the model or alias.
/// - `routing.rules` replaces the whole list (first match wins); `tiers` and `adapter_models` are
///   merged tier by tier (`null` removes an adapter's model for a tier).
/// - `budgets.default` replaces the keys it gives; each `budgets.agents.<id>` starts from the default
///   and replaces the keys it gives. `null` means no limit. `on_exceed`: `downgrade` (default) or `refuse`.
public struct CostSettings: Sendable, Equatable {
    public var prices: PriceTable
    public var routing: RoutingPolicy
    public var budgetDefault: BudgetLimits
    public var budgetAgents: [String: BudgetLimits]

    public init(
        prices: PriceTable = .defaults, routing: RoutingPolicy = .defaults, budgetDefault: BudgetLimits = BudgetLimits(),
        budgetAgents: [String: BudgetLimits] = [:]
    ) {
        self.prices = prices
        self.routing = routing
        self.budgetDefault = budgetDefault
        self.budgetAgents = budgetAgents
    }

    /// The budget policy over this routing (for downgrades).
    public var budgets: BudgetPolicy { BudgetPolicy(defaultLimits: budgetDefault, agents: budgetAgents, routing: routing) }

    /// Applies the three sections (each may be absent); on error nothing is half-applied.
    public mutating func apply(prices p: JSON?, routing r: JSON?, budgets b: JSON?) throws(CostsConfigError) {
        var copy = self
        if let p { try copy.applyPrices(p) }
        if let r { try copy.applyRouting(r) }
        if let b { try copy.applyBudgets(b) }
        self = copy
    }

    // MARK: prices

    mutating func applyPrices(_ section: JSON) throws(CostsConfigError) {
        guard case .object(let o) = section else {
            throw CostsConfigError(key: "prices", expected: "an object mapping model ids to their prices")
        }
        let known: Set = ["input", "output", "cache_read", "cache_write", "as_of", "source", "alias_of"]
        var pendingAliases: [(String, String)] = []
        for (name, value) in o {
            let key = "prices.\(name)"
            guard !name.isEmpty else { throw CostsConfigError(key: "prices", expected: "keyed by non-empty model ids") }
            if value.isNull {
                prices.models[name] = nil
                prices.aliases[name] = nil
                continue
            }
            guard case .object(let m) = value else {
                throw CostsConfigError(key: key, expected: "an object with input, output, cache_read, cache_write and as_of, or alias_of, or null")
            }
            if let unknown = m.keys.first(where: { !known.contains($0) }) {
                throw CostsConfigError(key: "\(key).\(unknown)", expected: "one of \(known.sorted().joined(separator: ", "))")
            }
            if let alias = m["alias_of"] {
                guard let target = alias.stringValue, !target.isEmpty, target != name else {
                    throw CostsConfigError(key: "\(key).alias_of", expected: "the id of another priced model")
                }
                guard m.count == 1 else {
                    throw CostsConfigError(key: key, expected: "either prices or alias_of, not both")
                }
                pendingAliases.append((name, target))
                continue
            }
            func dollars(_ k: String) throws(CostsConfigError) -> Double? {
                guard let v = m[k] else { return nil }
                guard let n = v.numberValue, n.isFinite, n >= 0, n <= 1_000_000 else {
                    throw CostsConfigError(key: "\(key).\(k)", expected: "a number of dollars per million tokens, 0 or more")
                }
                return n
            }
            // Prices given under an alias are its model's prices.
            let target = prices.aliases[name] ?? name
            let existing = prices.models[target]
            let input = try dollars("input") ?? existing?.input
            let output = try dollars("output") ?? existing?.output
            guard let input else { throw CostsConfigError(key: "\(key).input", expected: "given for a model without a built-in price") }
            guard let output else { throw CostsConfigError(key: "\(key).output", expected: "given for a model without a built-in price") }
            var price = existing ?? ModelPrice(input: input, output: output, cacheRead: input, cacheWrite: input)
            price.input = input
            price.output = output
            if let r = try dollars("cache_read") { price.cacheRead = r }
            if let w = try dollars("cache_write") { price.cacheWrite = w }
            if let d = m["as_of"], d.isNull {
                price.asOf = nil
            } else if let d = m["as_of"] {
                guard let s = d.stringValue, UTCCalendar.parseISODay(s) != nil else {
                    throw CostsConfigError(key: "\(key).as_of", expected: "the date the prices were taken, YYYY-MM-DD")
                }
                price.asOf = s
            } else if existing == nil || m["input"] != nil || m["output"] != nil {
                // New figures without a date: do not keep showing the built-in date for them.
                price.asOf = nil
            }
            if let s = m["source"] {
                guard s.isNull || s.stringValue != nil else { throw CostsConfigError(key: "\(key).source", expected: "a string or null") }
                price.source = s.stringValue
            }
            prices.models[target] = price
        }
        for (name, target) in pendingAliases {
            let resolved = prices.aliases[target] ?? target
            guard prices.models[resolved] != nil else {
                throw CostsConfigError(key: "prices.\(name).alias_of", expected: "the id of a priced model (\"\(target)\" has no price)")
            }
            prices.models[name] = nil
            prices.aliases[name] = resolved
        }
        // An alias whose model was removed would silently price nothing.
        if let bad = prices.aliases.sorted(by: { $0.key < $1.key }).first(where: { prices.models[$0.value] == nil }) {
            throw CostsConfigError(key: "prices.\(bad.key)", expected: "an alias of a priced model (\"\(bad.value)\" was removed); remove it too")
        }
    }

    // MARK: routing

    mutating func applyRouting(_ section: JSON) throws(CostsConfigError) {
        guard case .object(let o) = section else { throw CostsConfigError(key: "routing", expected: "an object") }
        let known: Set = ["default_tier", "rules", "tiers", "adapter_models"]
        if let unknown = o.keys.first(where: { !known.contains($0) }) {
            throw CostsConfigError(key: "routing.\(unknown)", expected: "one of \(known.sorted().joined(separator: ", "))")
        }
        let tierNames = Tier.allCases.map(\.rawValue).joined(separator: ", ")
        func tier(_ v: JSON, _ key: String) throws(CostsConfigError) -> Tier {
            guard let t = v.stringValue.flatMap(Tier.init(rawValue:)) else { throw CostsConfigError(key: key, expected: "one of \(tierNames)") }
            return t
        }
        if let d = o["default_tier"] { routing.defaultTier = try tier(d, "routing.default_tier") }
        if let rules = o["rules"] {
            guard case .array(let items) = rules else {
                throw CostsConfigError(key: "routing.rules", expected: "an array of {\"task\": GLOB, \"tier\": TIER}, first match wins")
            }
            var parsed: [RoutingRule] = []
            for (i, item) in items.enumerated() {
                let key = "routing.rules[\(i)]"
                guard case .object(let r) = item else { throw CostsConfigError(key: key, expected: "an object with task and tier") }
                if let unknown = r.keys.first(where: { $0 != "task" && $0 != "tier" }) {
                    throw CostsConfigError(key: "\(key).\(unknown)", expected: "task or tier")
                }
                guard let pattern = r["task"]?.stringValue, !pattern.isEmpty, pattern.utf8.count <= 200 else {
                    throw CostsConfigError(key: "\(key).task", expected: "a glob on the task label (* and ?), e.g. \"summarize*\"")
                }
                guard let t = r["tier"] else { throw CostsConfigError(key: "\(key).tier", expected: "one of \(tierNames)") }
                parsed.append(RoutingRule(pattern, try tier(t, "\(key).tier")))
            }
            routing.rules = parsed
        }
        if let tiers = o["tiers"] {
            guard case .object(let t) = tiers else { throw CostsConfigError(key: "routing.tiers", expected: "an object mapping tiers to {adapter, model}") }
            for (name, value) in t {
                let key = "routing.tiers.\(name)"
                guard let tier = Tier(rawValue: name) else { throw CostsConfigError(key: key, expected: "named one of \(tierNames)") }
                guard case .object(let target) = value else { throw CostsConfigError(key: key, expected: "an object with adapter and model") }
                if let unknown = target.keys.first(where: { $0 != "adapter" && $0 != "model" }) {
                    throw CostsConfigError(key: "\(key).\(unknown)", expected: "adapter or model")
                }
                guard let adapter = target["adapter"]?.stringValue, !adapter.isEmpty else {
                    throw CostsConfigError(key: "\(key).adapter", expected: "an adapter name")
                }
                guard let model = target["model"]?.stringValue, !model.isEmpty else {
                    throw CostsConfigError(key: "\(key).model", expected: "a model of the adapter")
                }
                routing.tiers[tier] = TierTarget(adapter: adapter, model: model)
            }
        }
        if let am = o["adapter_models"] {
            guard case .object(let adapters) = am else {
                throw CostsConfigError(key: "routing.adapter_models", expected: "an object mapping adapters to {tier: model}")
            }
            for (adapter, value) in adapters {
                let key = "routing.adapter_models.\(adapter)"
                if value.isNull {
                    routing.adapterModels[adapter] = nil
                    continue
                }
                guard case .object(let models) = value else { throw CostsConfigError(key: key, expected: "an object mapping tiers to models, or null") }
                var map = routing.adapterModels[adapter] ?? [:]
                for (name, m) in models {
                    guard let tier = Tier(rawValue: name) else { throw CostsConfigError(key: "\(key).\(name)", expected: "named one of \(tierNames)") }
                    if m.isNull {
                        map[tier] = nil
                        continue
                    }
                    guard let model = m.stringValue, !model.isEmpty else {
                        throw CostsConfigError(key: "\(key).\(name)", expected: "a model of the adapter, or null")
                    }
                    map[tier] = model
                }
                routing.adapterModels[adapter] = map.isEmpty ? nil : map
            }
        }
    }

    // MARK: budgets

    mutating func applyBudgets(_ section: JSON) throws(CostsConfigError) {
        guard case .object(let o) = section else {
            throw CostsConfigError(key: "budgets", expected: "an object with default and agents")
        }
        if let unknown = o.keys.first(where: { $0 != "default" && $0 != "agents" }) {
            throw CostsConfigError(key: "budgets.\(unknown)", expected: "default or agents")
        }
        if let d = o["default"] { budgetDefault = try Self.limits(d, over: budgetDefault, key: "budgets.default") }
        if let a = o["agents"] {
            guard case .object(let agents) = a else {
                throw CostsConfigError(key: "budgets.agents", expected: "an object mapping agent ids to their budgets")
            }
            for (id, value) in agents {
                let key = "budgets.agents.\(id)"
                if value.isNull {
                    budgetAgents[id] = nil
                    continue
                }
                budgetAgents[id] = try Self.limits(value, over: budgetDefault, key: key)
            }
        }
    }

    static func limits(_ value: JSON, over base: BudgetLimits, key: String) throws(CostsConfigError) -> BudgetLimits {
        guard case .object(let o) = value else {
            throw CostsConfigError(key: key, expected: "an object with daily_usd, monthly_usd and on_exceed")
        }
        let known: Set = ["daily_usd", "monthly_usd", "on_exceed"]
        if let unknown = o.keys.first(where: { !known.contains($0) }) {
            throw CostsConfigError(key: "\(key).\(unknown)", expected: "one of \(known.sorted().joined(separator: ", "))")
        }
        var limits = base
        func amount(_ k: String) throws(CostsConfigError) -> Double?? {
            guard let v = o[k] else { return .none }
            if v.isNull { return .some(nil) }
            guard let n = v.numberValue, n.isFinite, n >= 0 else {
                throw CostsConfigError(key: "\(key).\(k)", expected: "a number of US dollars, 0 or more, or null for no limit")
            }
            return .some(n)
        }
        if let d = try amount("daily_usd") { limits.dailyUSD = d }
        if let m = try amount("monthly_usd") { limits.monthlyUSD = m }
        if let e = o["on_exceed"] {
            guard let v = e.stringValue.flatMap(OnExceed.init(rawValue:)) else {
                throw CostsConfigError(key: "\(key).on_exceed", expected: "\"downgrade\" or \"refuse\"")
            }
            limits.onExceed = v
        }
        return limits
    }

    // MARK: printing

    /// The `prices` section that reproduces this table.
    public var pricesJSON: JSON {
        var o = JSONObject()
        for name in prices.models.keys.sorted() {
            let p = prices.models[name]!
            o[name] = [
                "input": .double(p.input), "output": .double(p.output), "cache_read": .double(p.cacheRead),
                "cache_write": .double(p.cacheWrite), "as_of": JSON(p.asOf), "source": JSON(p.source),
            ]
        }
        for name in prices.aliases.keys.sorted() { o[name] = ["alias_of": .string(prices.aliases[name]!)] }
        return .object(o)
    }

    public var routingJSON: JSON {
        var tiers = JSONObject()
        for t in Tier.allCases { if let target = routing.tiers[t] { tiers[t.rawValue] = ["adapter": .string(target.adapter), "model": .string(target.model)] } }
        var adapters = JSONObject()
        for name in routing.adapterModels.keys.sorted() {
            var m = JSONObject()
            for t in Tier.allCases { if let model = routing.adapterModels[name]![t] { m[t.rawValue] = .string(model) } }
            adapters[name] = .object(m)
        }
        return [
            "default_tier": .string(routing.defaultTier.rawValue),
            "rules": .array(routing.rules.map { ["task": .string($0.pattern), "tier": .string($0.tier.rawValue)] }),
            "tiers": .object(tiers),
            "adapter_models": .object(adapters),
        ]
    }

    public var budgetsJSON: JSON {
        func limits(_ l: BudgetLimits) -> JSON {
            ["daily_usd": JSON(l.dailyUSD), "monthly_usd": JSON(l.monthlyUSD), "on_exceed": .string(l.onExceed.rawValue)]
        }
        var agents = JSONObject()
        for id in budgetAgents.keys.sorted() { agents[id] = limits(budgetAgents[id]!) }
        return ["default": limits(budgetDefault), "agents": .object(agents)]
    }
}
