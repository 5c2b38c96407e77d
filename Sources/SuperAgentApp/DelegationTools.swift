import Delegation
import JSON
import MCP

/// The delegation tools: `should_i_delegate`, `get_delegation_recommendation`, `report_capacity`.
///
/// Each answers for the calling agent (`ROLE_ID`) from the org chart and the fresh load reports.
public struct DelegationTools: Sendable {
    let tracker: CapacityTracker
    let roleID: String?

    public init(tracker: CapacityTracker, roleID: String?) {
        self.tracker = tracker
        self.roleID = roleID
    }

    public var all: [Tool] { [shouldIDelegate, recommendation, reportCapacity] }

    // MARK: - Schemas

    static let priorityProperty: JSON = [
        "type": "string", "enum": ["low", "normal", "high", "critical"], "default": "normal",
        "description":
            "How urgent the task is. low needs an agent under 50% busy, normal under 75%, high and critical take any free slot.",
    ]
    static let chainProperty: JSON = [
        "type": "array", "items": ["type": "string", "maxLength": 64], "maxItems": 64,
        "description":
            "Agent ids this task has already passed through, oldest first. They (and you) are never recommended; once it holds max_hops ids the answer is spawn_worker.",
    ]
    static let capacityObject: JSON = [
        "type": "object",
        "properties": ["active": ["type": "integer"], "max": ["type": "integer"], "free": ["type": "integer"]],
        "required": ["active", "max", "free"], "additionalProperties": false,
    ]
    static let delegationInput: JSON = [
        "type": "object",
        "properties": ["task_priority": priorityProperty, "delegation_chain": chainProperty],
        "additionalProperties": false,
    ]
    static let readOnly = ToolAnnotations(readOnly: true, destructive: false, idempotent: true, openWorld: false)

    // MARK: - Tools

    var shouldIDelegate: Tool {
        Tool(
            name: "should_i_delegate",
            title: "Should I delegate?",
            description: """
                Decide whether to do a task yourself or hand it off, in this order: 1. yourself if you have capacity, \
                2. a direct report with capacity, 3. a sibling (same manager) with capacity, 4. spawn a pool worker. \
                Capacity comes from fresh report_capacity calls; an agent without one counts as unavailable.
                """,
            inputSchema: Self.delegationInput,
            outputSchema: [
                "type": "object",
                "properties": [
                    "success": ["type": "boolean"],
                    "agent_id": ["type": "string"],
                    "should_delegate": ["type": "boolean"],
                    "action": ["type": "string", "enum": ["do_it_yourself", "delegate_to_report", "delegate_to_sibling", "spawn_worker"]],
                    "delegate_to": ["type": ["string", "null"]],
                    "target_capacity": ["anyOf": [Self.capacityObject, ["type": "null"]]],
                    "reason": ["type": "string"],
                ],
                "required": ["success", "agent_id", "should_delegate", "action", "delegate_to", "reason"],
                "additionalProperties": false,
            ],
            annotations: Self.readOnly
        ) { arguments, context in
            let (priority, chain) = Self.delegationArguments(arguments)
            guard let caller = roleID, roleProblem == nil else { return .error(roleProblem!) }
            let decision: DelegationDecision
            do { decision = try await tracker.shouldDelegate(agentID: caller, priority: priority, chain: chain) } catch {
                return .error("\(error)")
            }
            context.log(.debug, "should_i_delegate: \(decision.action.rawValue)", data: ["agent_id": .string(caller)])
            return .structured([
                "success": true,
                "agent_id": .string(decision.agentID),
                "should_delegate": .bool(decision.shouldDelegate),
                "action": .string(decision.action.rawValue),
                "delegate_to": JSON(decision.delegateTo),
                "target_capacity": Self.capacity(decision.delegateTo == nil ? nil : decision.targetLoad),
                "reason": .string(decision.reason),
            ])
        }
    }

    var recommendation: Tool {
        Tool(
            name: "get_delegation_recommendation",
            title: "Who should take this task?",
            description: """
                Recommend a teammate for a task: your direct reports first (they work for you), then siblings, the one \
                with the most free capacity. When everyone is full, spawn_worker is true: send the task to the pool.
                """,
            inputSchema: Self.delegationInput,
            outputSchema: [
                "type": "object",
                "properties": [
                    "agent_id": ["type": "string"],
                    "delegate_to": ["type": ["string", "null"]],
                    "relationship": ["type": ["string", "null"], "enum": ["report", "sibling", nil]],
                    "target_capacity": ["anyOf": [Self.capacityObject, ["type": "null"]]],
                    "spawn_worker": ["type": "boolean"],
                    "message": ["type": "string"],
                ],
                "required": ["delegate_to", "target_capacity", "spawn_worker", "message"],
                "additionalProperties": false,
            ],
            annotations: Self.readOnly
        ) { arguments, _ in
            let (priority, chain) = Self.delegationArguments(arguments)
            guard let caller = roleID, roleProblem == nil else { return .error(roleProblem!) }
            let decision: DelegationDecision
            do { decision = try await tracker.recommend(agentID: caller, priority: priority, chain: chain) } catch {
                return .error("\(error)")
            }
            let relationship: JSON =
                switch decision.action {
                case .delegateToReport: "report"
                case .delegateToSibling: "sibling"
                default: .null
                }
            let message =
                if let target = decision.delegateTo {
                    "Delegate to \(target) - they have bandwidth (\(decision.reason))"
                } else {
                    "All team members at capacity. Spawn a worker for this task. (\(decision.reason))"
                }
            return .structured([
                "agent_id": .string(caller),
                "delegate_to": JSON(decision.delegateTo),
                "relationship": relationship,
                "target_capacity": Self.capacity(decision.targetLoad),
                "spawn_worker": .bool(decision.delegateTo == nil),
                "message": .string(message),
            ])
        }
    }

    var reportCapacity: Tool {
        Tool(
            name: "report_capacity",
            title: "Report my capacity",
            description: """
                Publish how many tasks you are working on, so teammates' delegation tools can route work to you. \
                A report expires after the capacity TTL (default 10 minutes); without a fresh one you count as unavailable.
                """,
            inputSchema: [
                "type": "object",
                "properties": [
                    "active_tasks": ["type": "integer", "minimum": 0, "maximum": 10000, "description": "Tasks you are working on now."],
                    "max_tasks": [
                        "type": "integer", "minimum": 1, "maximum": 1000,
                        "description": "The most tasks you take at once; defaults to your max_concurrent in the org chart.",
                    ],
                ],
                "required": ["active_tasks"],
                "additionalProperties": false,
            ],
            outputSchema: [
                "type": "object",
                "properties": [
                    "success": ["type": "boolean"],
                    "agent_id": ["type": "string"],
                    "active_tasks": ["type": "integer"],
                    "max_tasks": ["type": "integer"],
                    "free": ["type": "integer"],
                    "expires_in_s": ["type": "number"],
                ],
                "required": ["success", "agent_id", "active_tasks", "max_tasks", "free", "expires_in_s"],
                "additionalProperties": false,
            ],
            annotations: ToolAnnotations(readOnly: false, destructive: false, idempotent: true, openWorld: false)
        ) { arguments, _ in
            guard let caller = roleID, roleProblem == nil else { return .error(roleProblem!) }
            let active = Int(arguments["active_tasks"]?.exactInteger ?? 0)
            let max = arguments["max_tasks"]?.exactInteger.map { Int($0) }
            let report: CapacityReport
            do { report = try await tracker.report(agentID: caller, activeTasks: active, maxTasks: max) } catch {
                return .error("\(error)")
            }
            let load = Load(active: report.activeTasks, max: report.maxTasks)
            return .structured([
                "success": true,
                "agent_id": .string(caller),
                "active_tasks": JSON(load.active),
                "max_tasks": JSON(load.max),
                "free": JSON(load.free),
                "expires_in_s": .double(tracker.reportTTL),
            ])
        }
    }

    // MARK: - Helpers

    /// What is wrong with the caller's `ROLE_ID`, if anything. Reported as a tool error (the operator
    /// can fix it) that lists the ids the chart knows.
    var roleProblem: String? {
        if let roleID, tracker.chart.agent(roleID) != nil { return nil }
        let known = tracker.chart.ids.joined(separator: ", ")
        let what = roleID.map { "ROLE_ID \"\($0)\" is not in the org chart" } ?? "ROLE_ID is not set"
        return "\(what); set it to one of: \(known)"
    }

    static func delegationArguments(_ arguments: JSONObject) -> (DelegationPriority, [String]) {
        let priority = arguments["task_priority"]?.stringValue.flatMap(DelegationPriority.init(rawValue:)) ?? .normal
        let chain = arguments["delegation_chain"]?.arrayValue?.compactMap(\.stringValue) ?? []
        return (priority, chain)
    }

    static func capacity(_ load: Load?) -> JSON {
        guard let load else { return .null }
        return ["active": JSON(load.active), "max": JSON(load.max), "free": JSON(load.free)]
    }
}
