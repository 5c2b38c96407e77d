import Delegation
import JSON
import MCP
import SuperAgentApp
import Synchronization
import Testing

/// A clock the test moves by hand.
final class TestClock: Sendable {
    private let seconds = Mutex(50_000.0)
    var now: Double { seconds.withLock { $0 } }
    func advance(_ by: Double) { seconds.withLock { $0 += by } }
}

/// The three delegation tools over the built-in chart and an in-memory store, as `roleID`.
struct Harness {
    let chart: OrgChart
    let store = InMemoryCapacityStore()
    let clock = TestClock()

    init() throws {
        chart = try Config.load(flags: [:], environment: Environment([:])).orgChart()
    }

    func tools(as roleID: String?, ttl: Double = 600, maxHops: Int = 3) -> DelegationTools {
        let clock = self.clock
        let tracker = CapacityTracker(chart: chart, store: store, reportTTL: ttl, maxHops: maxHops, now: { clock.now })
        return DelegationTools(tracker: tracker, roleID: roleID)
    }

    func call(_ name: String, as roleID: String?, _ arguments: JSONObject = [:]) async throws -> ToolResult {
        let tool = try #require(tools(as: roleID).all.first { $0.name == name })
        return try await tool.handler(arguments, .detached())
    }

    func schema(_ name: String) throws -> JSON {
        let tool = try #require(tools(as: "ceo").all.first { $0.name == name })
        return try #require(tool.outputSchema)
    }
}

/// Checks `result.structuredContent` against the tool's outputSchema, and any capacity object
/// against the schema's own `target_capacity` alternatives (the validator skips `anyOf`).
func expectConforms(_ result: ToolResult, to schema: JSON, sourceLocation: SourceLocation = #_sourceLocation) throws {
    #expect(!result.isError, "tool failed: \(result.content)", sourceLocation: sourceLocation)
    let structured = try #require(result.structuredContent, sourceLocation: sourceLocation)
    let problem = SchemaValidator.validate(structured, against: schema)
    #expect(problem == nil, "structuredContent \(structured.text) breaks outputSchema: \(String(describing: problem))",
        sourceLocation: sourceLocation)
    if let capacity = structured["target_capacity"], !capacity.isNull {
        let alternatives = try #require(schema["properties"]?["target_capacity"]?["anyOf"]?.arrayValue, sourceLocation: sourceLocation)
        let matches = alternatives.contains { SchemaValidator.validate(capacity, against: $0) == nil }
        #expect(matches, "target_capacity \(capacity.text) matches none of its anyOf schemas", sourceLocation: sourceLocation)
    }
    // The text block carries the same JSON.
    if case .string(let text)? = result.content.first?["text"] {
        #expect((try? JSON.parse(text)) == structured, sourceLocation: sourceLocation)
    } else {
        Issue.record("first content block is not text", sourceLocation: sourceLocation)
    }
}

func errorText(_ result: ToolResult) -> String {
    result.content.compactMap { $0["text"]?.stringValue }.joined(separator: "\n")
}

@Suite("DelegationTools")
struct DelegationToolsTests {
    let h: Harness

    init() throws { h = try Harness() }

    @Test func toolsAreTheThreeDelegationTools() {
        #expect(h.tools(as: "ceo").all.map(\.name) == ["should_i_delegate", "get_delegation_recommendation", "report_capacity"])
    }

    @Test func reportCapacityThenShouldIDelegateGivesDoItYourself() async throws {
        let reported = try await h.call("report_capacity", as: "cto", ["active_tasks": 0])
        #expect(!reported.isError)
        #expect(reported.structuredContent?["free"] == .int(3))

        let answer = try await h.call("should_i_delegate", as: "cto", ["task_priority": "normal"])
        #expect(!answer.isError)
        let s = try #require(answer.structuredContent)
        #expect(s["action"] == "do_it_yourself")
        #expect(s["should_delegate"] == false)
        #expect(s["agent_id"] == "cto")
        #expect(s["delegate_to"] == .null)
        #expect(s["success"] == true)
    }

    @Test func shouldIDelegateWithoutAReportSpawnsAWorker() async throws {
        let answer = try await h.call("should_i_delegate", as: "cto")
        let s = try #require(answer.structuredContent)
        #expect(s["action"] == "spawn_worker")
        #expect(s["should_delegate"] == true)
        #expect(s["reason"]?.stringValue?.contains("report_capacity") == true)
    }

    @Test func busyAgentIsSentToItsReport() async throws {
        _ = try await h.call("report_capacity", as: "cto", ["active_tasks": 3])
        _ = try await h.call("report_capacity", as: "devops", ["active_tasks": 0])
        let answer = try await h.call("should_i_delegate", as: "cto")
        let s = try #require(answer.structuredContent)
        #expect(s["action"] == "delegate_to_report")
        #expect(s["delegate_to"] == "devops")
        #expect(s["target_capacity"] == ["active": 0, "max": 3, "free": 3])
    }

    @Test func delegationChainIsHonoured() async throws {
        _ = try await h.call("report_capacity", as: "cto", ["active_tasks": 3])
        _ = try await h.call("report_capacity", as: "devops", ["active_tasks": 0])
        let answer = try await h.call("should_i_delegate", as: "cto", ["delegation_chain": ["devops"]])
        #expect(answer.structuredContent?["action"] == "spawn_worker")
        let hops = try await h.call("should_i_delegate", as: "devops", ["delegation_chain": ["ceo", "cto", "architect"]])
        #expect(hops.structuredContent?["action"] == "spawn_worker")
    }

    @Test func reportCapacityUsesChartDefaultAndExplicitMax() async throws {
        let defaulted = try await h.call("report_capacity", as: "ceo", ["active_tasks": 1])
        #expect(defaulted.structuredContent?["max_tasks"] == .int(2))
        #expect(defaulted.structuredContent?["free"] == .int(1))
        #expect(defaulted.structuredContent?["expires_in_s"] == .double(600))
        let explicit = try await h.call("report_capacity", as: "ceo", ["active_tasks": 1, "max_tasks": 10])
        #expect(explicit.structuredContent?["max_tasks"] == .int(10))
        #expect(explicit.structuredContent?["free"] == .int(9))
    }

    @Test func reportCapacityAcceptsIntegralReals() async throws {
        let result = try await h.call("report_capacity", as: "ceo", ["active_tasks": 1.0, "max_tasks": 4.0])
        #expect(result.structuredContent?["active_tasks"] == .int(1))
        #expect(result.structuredContent?["max_tasks"] == .int(4))
    }

    @Test func expiredReportMakesTheAgentUnavailableAgain() async throws {
        _ = try await h.call("report_capacity", as: "cto", ["active_tasks": 0])
        h.clock.advance(601)
        let answer = try await h.call("should_i_delegate", as: "cto")
        #expect(answer.structuredContent?["action"] == "spawn_worker")
    }

    @Test(arguments: ["should_i_delegate", "get_delegation_recommendation", "report_capacity"])
    func unknownRoleIDIsAToolErrorListingKnownIDs(tool: String) async throws {
        let result = try await h.call(tool, as: "intern", ["active_tasks": 0])
        #expect(result.isError)
        let text = errorText(result)
        #expect(text.contains("\"intern\""))
        for id in ["ceo", "cto", "zidevops-director", "org-agent", "architect"] {
            #expect(text.contains(id))
        }
        #expect(text.contains("architect, ceo, cfo, cso, cto, devops, fullstack, investment, marketing, org-agent, zidevops-director"))
    }

    @Test(arguments: ["should_i_delegate", "get_delegation_recommendation", "report_capacity"])
    func missingRoleIDIsAToolError(tool: String) async throws {
        let result = try await h.call(tool, as: nil, ["active_tasks": 0])
        #expect(result.isError)
        #expect(errorText(result).contains("ROLE_ID is not set"))
        #expect(errorText(result).contains("ceo"))
    }

    @Test func negativeActiveTasksIsAToolError() async throws {
        let result = try await h.call("report_capacity", as: "cto", ["active_tasks": -2])
        #expect(result.isError)
        #expect(errorText(result).contains("active_tasks"))
    }

    @Test func recommendationPrefersReportsAndNeverYourself() async throws {
        _ = try await h.call("report_capacity", as: "cto", ["active_tasks": 0])
        _ = try await h.call("report_capacity", as: "fullstack", ["active_tasks": 1])
        _ = try await h.call("report_capacity", as: "architect", ["active_tasks": 0])
        let result = try await h.call("get_delegation_recommendation", as: "cto")
        let s = try #require(result.structuredContent)
        #expect(s["delegate_to"] == "architect")
        #expect(s["relationship"] == "report")
        #expect(s["spawn_worker"] == false)
        #expect(s["message"]?.stringValue?.hasPrefix("Delegate to architect") == true)
    }

    @Test func recommendationSpawnsWorkerWhenEveryoneIsFull() async throws {
        let result = try await h.call("get_delegation_recommendation", as: "zidevops-director")
        let s = try #require(result.structuredContent)
        #expect(s["delegate_to"] == .null)
        #expect(s["relationship"] == .null)
        #expect(s["target_capacity"] == .null)
        #expect(s["spawn_worker"] == true)
    }

    // MARK: - Output schemas

    @Test func reportCapacityConformsToItsOutputSchema() async throws {
        let schema = try h.schema("report_capacity")
        try expectConforms(try await h.call("report_capacity", as: "cto", ["active_tasks": 0]), to: schema)
        try expectConforms(try await h.call("report_capacity", as: "cto", ["active_tasks": 7, "max_tasks": 3]), to: schema)
    }

    @Test func shouldIDelegateConformsToItsOutputSchemaForEveryAction() async throws {
        let schema = try h.schema("should_i_delegate")
        var actions: Set<String> = []
        func check(_ caller: String, _ args: JSONObject = [:]) async throws {
            let result = try await h.call("should_i_delegate", as: caller, args)
            try expectConforms(result, to: schema)
            if let a = result.structuredContent?["action"]?.stringValue { actions.insert(a) }
        }
        try await check("cto")  // spawn_worker: nobody reported
        _ = try await h.call("report_capacity", as: "cto", ["active_tasks": 0])
        try await check("cto")  // do_it_yourself
        _ = try await h.call("report_capacity", as: "cto", ["active_tasks": 3])
        _ = try await h.call("report_capacity", as: "devops", ["active_tasks": 0])
        try await check("cto")  // delegate_to_report
        try await check("architect")  // delegate_to_sibling (devops)
        #expect(actions == ["spawn_worker", "do_it_yourself", "delegate_to_report", "delegate_to_sibling"])
    }

    @Test func recommendationConformsToItsOutputSchemaForEveryRelationship() async throws {
        let schema = try h.schema("get_delegation_recommendation")
        try expectConforms(try await h.call("get_delegation_recommendation", as: "cto"), to: schema)  // spawn
        _ = try await h.call("report_capacity", as: "devops", ["active_tasks": 0])
        try expectConforms(try await h.call("get_delegation_recommendation", as: "cto"), to: schema)  // report
        try expectConforms(try await h.call("get_delegation_recommendation", as: "fullstack"), to: schema)  // sibling
    }

    @Test func schemaCheckCatchesANonConformingResult() throws {
        // The check itself must be able to fail: an extra member and a wrong type are both caught.
        let schema = try h.schema("report_capacity")
        let bad: JSON = ["success": true, "agent_id": "x", "active_tasks": "1", "max_tasks": 1, "free": 0, "expires_in_s": 1]
        #expect(SchemaValidator.validate(bad, against: schema) != nil)
        let extra: JSON = [
            "success": true, "agent_id": "x", "active_tasks": 1, "max_tasks": 1, "free": 0, "expires_in_s": 1, "x": 1,
        ]
        #expect(SchemaValidator.validate(extra, against: schema) != nil)
    }
}
