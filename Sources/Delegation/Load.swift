/// How busy an agent is: tasks under way against the most it takes at once.
public struct Load: Sendable, Equatable {
    public let active: Int
    public let max: Int

    public init(active: Int, max: Int) {
        self.active = active
        self.max = max
    }

    /// Slots left; never negative even when an agent reports more work than its maximum.
    public var free: Int { Swift.max(0, max - active) }

    /// Fraction of the maximum in use.
    public var utilisation: Double { max > 0 ? Double(active) / Double(max) : 1 }
}

/// How urgent a task is. Higher priority may take a busier agent's last slots; lower priority
/// leaves them free for more urgent work.
public enum DelegationPriority: String, Sendable, CaseIterable {
    case low, normal, high, critical

    /// Utilisation (before taking the task) must be below this for an agent to "have capacity".
    ///
    /// - low: under 50% busy, so low work never eats the headroom others need;
    /// - normal: under 75% busy;
    /// - high and critical: any free slot.
    /// In every case at least one slot must be free, and the agent must have a fresh report.
    public var utilisationCeiling: Double {
        switch self {
        case .low: return 0.5
        case .normal: return 0.75
        case .high, .critical: return 1.0
        }
    }

    /// Whether an agent with `load` can take a task of this priority.
    public func fits(_ load: Load) -> Bool {
        load.free >= 1 && load.utilisation < utilisationCeiling
    }

    var ceilingDescription: String {
        switch self {
        case .low: return "low priority needs an agent under 50% busy"
        case .normal: return "normal priority needs an agent under 75% busy"
        case .high, .critical: return "\(rawValue) priority takes any free slot"
        }
    }
}
