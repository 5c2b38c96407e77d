/// One role agent in the organisation.
public struct Agent: Sendable, Hashable {
    public let id: String
    /// The manager's id; `nil` marks a root of the chart.
    public let reportsTo: String?
    /// How many tasks the agent works on at once when its own report does not say.
    public let maxConcurrent: Int

    public init(id: String, reportsTo: String? = nil, maxConcurrent: Int = 3) {
        self.id = id
        self.reportsTo = reportsTo
        self.maxConcurrent = maxConcurrent
    }
}

/// Why an org chart was refused at start-up.
public enum OrgChartError: Error, Sendable, Equatable, CustomStringConvertible {
    case empty
    case invalidID(String)
    case duplicateID(String)
    case unknownManager(agent: String, manager: String)
    case cycle([String])
    case invalidMaxConcurrent(agent: String, value: Int)

    public var description: String {
        switch self {
        case .empty:
            return "org chart has no agents; list them under org.agents"
        case .invalidID(let id):
            return "agent id \"\(id)\" is not allowed; use 1-64 characters of a-z, 0-9, '-', '_' or '.'"
        case .duplicateID(let id):
            return "agent id \"\(id)\" appears more than once in org.agents"
        case .unknownManager(let agent, let manager):
            return "agent \"\(agent)\" reports_to \"\(manager)\", which is not in org.agents"
        case .cycle(let path):
            return "reporting cycle: \(path.joined(separator: " -> ")); every chain must end at an agent without reports_to"
        case .invalidMaxConcurrent(let agent, let value):
            return "agent \"\(agent)\" has max_concurrent \(value); it must be between 1 and 1000"
        }
    }
}

/// A validated reporting tree (or forest): no duplicates, no unknown managers, no cycles.
public struct OrgChart: Sendable {
    public let agents: [Agent]
    /// Every agent id, sorted.
    public let ids: [String]
    private let byID: [String: Agent]
    private let reportsByManager: [String: [String]]

    public init(_ agents: [Agent]) throws(OrgChartError) {
        guard !agents.isEmpty else { throw .empty }
        var byID: [String: Agent] = [:]
        for agent in agents {
            guard Self.isValidID(agent.id) else { throw .invalidID(agent.id) }
            guard byID[agent.id] == nil else { throw .duplicateID(agent.id) }
            guard (1...1000).contains(agent.maxConcurrent) else {
                throw .invalidMaxConcurrent(agent: agent.id, value: agent.maxConcurrent)
            }
            byID[agent.id] = agent
        }
        var reports: [String: [String]] = [:]
        for agent in agents {
            if let manager = agent.reportsTo {
                guard byID[manager] != nil else { throw .unknownManager(agent: agent.id, manager: manager) }
                reports[manager, default: []].append(agent.id)
            }
        }
        // Walk up from every agent; meeting an agent twice on one walk is a cycle.
        for agent in agents {
            var path = [agent.id]
            var current = agent
            while let manager = current.reportsTo {
                if let start = path.firstIndex(of: manager) {
                    throw .cycle(Array(path[start...]) + [manager])
                }
                path.append(manager)
                current = byID[manager]!
            }
        }
        self.agents = agents
        self.ids = agents.map(\.id).sorted()
        self.byID = byID
        self.reportsByManager = reports.mapValues { $0.sorted() }
    }

    public func agent(_ id: String) -> Agent? { byID[id] }

    /// Direct reports, sorted by id.
    public func reports(of id: String) -> [String] { reportsByManager[id] ?? [] }

    /// Agents with the same manager, sorted by id; roots have no siblings.
    public func siblings(of id: String) -> [String] {
        guard let manager = byID[id]?.reportsTo else { return [] }
        return reports(of: manager).filter { $0 != id }
    }

    static func isValidID(_ id: String) -> Bool {
        guard (1...64).contains(id.utf8.count) else { return false }
        return id.utf8.allSatisfy { c in
            (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) || c == 0x2D || c == 0x5F || c == 0x2E
        }
    }
}
