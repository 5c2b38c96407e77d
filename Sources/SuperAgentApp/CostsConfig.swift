import Costs
import JSON
import Runs

/// The config file's `prices`, `routing` and `budgets` sections (see `CostSettings` for the format).
extension CostSettings {
    /// Applies the three sections of one config file, then checks the routing against the pool's
    /// adapters: every adapter routing names must exist, and every model must be one the adapter
    /// allows. Settings the file gave are errors naming the key; built-in routing defaults that the
    /// file's adapters no longer allow are dropped instead (a tier without a target uses the nearest
    /// configured tier; an adapter without a cheap model cannot be downgraded, so it is refused).
    mutating func apply(prices: JSON?, routing: JSON?, budgets: JSON?, adapters: [AdapterSpec], source: String) throws(ConfigError) {
        var copy = self
        do throws(CostsConfigError) {
            try copy.apply(prices: prices, routing: routing, budgets: budgets)
            try copy.check(adapters: adapters, strict: routing != nil)
        } catch {
            throw .invalidValue(key: error.key, source: source, expected: error.expected)
        }
        self = copy
    }

    mutating func check(adapters: [AdapterSpec], strict: Bool) throws(CostsConfigError) {
        let byName = Dictionary(adapters.map { ($0.name, $0) }, uniquingKeysWith: { _, last in last })
        let names = byName.keys.sorted().joined(separator: ", ")
        func allows(_ adapter: AdapterSpec, _ model: String) -> Bool { adapter.models.isEmpty || adapter.models.contains(model) }
        for tier in Tier.allCases {
            guard let target = routing.tiers[tier] else { continue }
            let key = "routing.tiers.\(tier.rawValue)"
            guard let adapter = byName[target.adapter] else {
                if strict { throw CostsConfigError(key: "\(key).adapter", expected: "one of the adapters (\(names))") }
                routing.tiers[tier] = nil
                continue
            }
            if !allows(adapter, target.model) {
                if strict {
                    throw CostsConfigError(key: "\(key).model", expected: "one of \(adapter.name)'s models (\(adapter.models.joined(separator: ", ")))")
                }
                routing.tiers[tier] = nil
            }
        }
        for name in routing.adapterModels.keys.sorted() {
            let key = "routing.adapter_models.\(name)"
            guard let adapter = byName[name] else {
                if strict { throw CostsConfigError(key: key, expected: "named after one of the adapters (\(names))") }
                routing.adapterModels[name] = nil
                continue
            }
            for tier in Tier.allCases {
                guard let model = routing.adapterModels[name]?[tier], !allows(adapter, model) else { continue }
                if strict {
                    throw CostsConfigError(
                        key: "\(key).\(tier.rawValue)", expected: "one of \(adapter.name)'s models (\(adapter.models.joined(separator: ", ")))")
                }
                routing.adapterModels[name]?[tier] = nil
            }
        }
        if strict, routing.tiers[routing.defaultTier] == nil {
            throw CostsConfigError(key: "routing.default_tier", expected: "a tier that routing.tiers maps to an adapter and model")
        }
    }
}
