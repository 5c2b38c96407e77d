import JSON
import Testing
import TestSupport

@testable import MCP

/// Arguments the echo tool's inputSchema refuses, the field the error must name, and a hint it must give.
struct BadArguments: Sendable, CustomTestStringConvertible {
    let arguments: JSON
    let field: String
    let hint: String
    var testDescription: String { arguments.text }
}

@Suite("Tools")
struct ToolCallTests {
    @Test func toolsListShowsARegisteredToolWithItsSchemas() throws {
        let h = ServerHarness(tools: [TestTools.echo(), TestTools.picky()])
        try h.initialize()
        let tools = try #require(resultOf(h.call(1, "tools/list"))["tools"]?.arrayValue)
        #expect(tools.map { $0["name"] } == ["echo", "picky"], "registration order")
        let echo = tools[0]
        #expect(echo["description"] == "Returns its arguments as structured content.")
        #expect(echo["inputSchema"] == TestTools.echoSchema)
        #expect(echo["inputSchema"]?["additionalProperties"] == false)
        #expect(echo["outputSchema"] == TestTools.echoOutputSchema)
        #expect(
            echo["annotations"] == [
                "title": "Echo", "readOnlyHint": true, "destructiveHint": false, "idempotentHint": true,
                "openWorldHint": false,
            ])
    }

    @Test func registeringASecondToolWithTheSameNameReplacesTheFirst() {
        var registry = ToolRegistry([TestTools.echo(), TestTools.picky()])
        registry.register(TestTools.stepper([1]))
        let replacement = Tool(
            name: "echo", title: "Echo 2", description: "v2", inputSchema: ["type": "object"],
            annotations: TestTools.annotations
        ) { _, _ in .structured(.emptyObject) }
        registry.register(replacement)
        #expect(registry.names == ["echo", "picky", "stepper"])
        #expect(registry.tool(named: "echo")?.title == "Echo 2")
        #expect(registry.tool(named: "nope") == nil)
    }

    @Test func successfulCallHasStructuredContentAndAMatchingTextBlock() async throws {
        let h = ServerHarness()
        try h.initialize()
        let response = try await h.callTool(1, "echo", ["count": 4, "mode": "careful"])
        #expect(response["id"] == .int(1))
        let result = try resultOf(response)
        #expect(result["isError"] == false)
        #expect(result["structuredContent"] == ["count": 4, "mode": "careful"])
        let blocks = try #require(result["content"]?.arrayValue)
        try #require(blocks.count == 1)
        #expect(blocks[0]["type"] == "text")
        let text = try #require(blocks[0]["text"]?.stringValue)
        #expect(try JSON.parse(text) == result["structuredContent"])
    }

    @Test func missingOrNullArgumentsAreAnEmptyObject() async throws {
        let h = ServerHarness()
        try h.initialize()
        h.request(1, "tools/call", ["name": "echo"])
        let missing = try resultOf(await h.awaitResponse(to: 1))
        #expect(missing["isError"] == true && contentText(missing).contains("count"))
        let null = try resultOf(await h.callTool(2, "echo", .null))
        #expect(null["isError"] == true && contentText(null).contains("count"))
    }

    @Test(arguments: [
        BadArguments(arguments: .emptyObject, field: "count", hint: "required"),
        BadArguments(arguments: ["count": "three"], field: "count", hint: "integer"),
        BadArguments(arguments: ["count": 1.5], field: "count", hint: "integer"),
        BadArguments(arguments: ["count": -1], field: "count", hint: "at least 0"),
        BadArguments(arguments: ["count": 1, "mode": "reckless"], field: "mode", hint: "careful"),
        BadArguments(arguments: ["count": 1, "mode": 3], field: "mode", hint: "string"),
        BadArguments(arguments: ["count": 1, "bogus": true], field: "bogus", hint: "known"),
    ])
    func badArgumentsGiveAnIsErrorResultNamingTheField(_ c: BadArguments) async throws {
        let h = ServerHarness()
        try h.initialize()
        let response = try await h.callTool(1, "echo", c.arguments)
        #expect(response["error"] == nil, "argument problems are tool results, not protocol errors")
        let result = try resultOf(response)
        #expect(result["isError"] == true)
        let text = contentText(result)
        #expect(text.contains(c.field), "\(text)")
        #expect(text.contains(c.hint), "\(text)")
        #expect(result["structuredContent"] == nil)
    }

    @Test func unknownToolIsInvalidParamsNamingTheKnownTools() async throws {
        let h = ServerHarness(tools: [TestTools.echo(), TestTools.picky()])
        try h.initialize()
        let response = try h.call(1, "tools/call", ["name": "nope", "arguments": .emptyObject])
        let error = try errorOf(response)
        #expect(error["code"] == .int(-32602))
        let message = try #require(error["message"]?.stringValue)
        #expect(message.contains("nope") && message.contains("echo") && message.contains("picky"))
        #expect(h.server.inFlightCount == 0)
    }

    @Test func callWithoutANameOrWithNonObjectArgumentsIsInvalidParams() throws {
        let h = ServerHarness()
        try h.initialize()
        #expect(try errorOf(h.call(1, "tools/call", ["arguments": .emptyObject]))["code"] == .int(-32602))
        #expect(try errorOf(h.call(2, "tools/call", ["name": 5]))["code"] == .int(-32602))
        #expect(try errorOf(h.call(3, "tools/call", ["name": "echo", "arguments": [1]]))["code"] == .int(-32602))
        #expect(try errorOf(h.call(4, "tools/call", ["name": "echo", "arguments": "count=1"]))["code"] == .int(-32602))
    }

    @Test func argumentErrorThrownByTheHandlerIsAnIsErrorResultNamingTheField() async throws {
        let h = ServerHarness(tools: [TestTools.picky()])
        try h.initialize()
        let result = try resultOf(await h.callTool(1, "picky"))
        #expect(result["isError"] == true)
        #expect(contentText(result).contains("target") && contentText(result).contains("known role"))
    }

    @Test func handlerFailureIsAnIsErrorResultAndTheServerCarriesOn() async throws {
        let h = ServerHarness(tools: [TestTools.picky()])
        try h.initialize()
        let result = try resultOf(await h.callTool(1, "picky", ["explode": true]))
        #expect(result["isError"] == true)
        #expect(contentText(result).contains("picky failed") && contentText(result).contains("kaboom"))
        #expect(try resultOf(h.call(2, "ping")) == .emptyObject)
    }

    @Test func sessionsBefore20250618GetNoStructuredContent() async throws {
        let h = ServerHarness()
        try h.initialize("2025-03-26")
        let result = try resultOf(await h.callTool(1, "echo", ["count": 1]))
        #expect(result["isError"] == false)
        #expect(result["structuredContent"] == nil)
        #expect(try JSON.parse(contentText(result)) == ["count": 1, "mode": "fast"], "the text block still has it")
    }

    @Test func aToolThatNeverWaitsIsAnsweredBeforeReceiveReturns() throws {
        // Such a call runs on the receiving thread up to its end: no hand-off to another thread.
        let h = ServerHarness()
        try h.initialize()
        h.request(1, "tools/call", ["name": "echo", "arguments": ["count": 3]])
        let answers = h.responses(to: 1)
        try #require(answers.count == 1)
        #expect(try resultOf(answers[0])["structuredContent"] == ["count": 3, "mode": "fast"])
        #expect(h.server.inFlightCount == 0)
    }

    @Test func aToolThatWaitsDoesNotHoldUpTheReceivingThread() async throws {
        let probe = Probe()
        let h = ServerHarness(tools: [TestTools.gated(probe)])
        try h.initialize()
        h.request(1, "tools/call", ["name": "slow"])
        #expect(probe.startedCount == 1, "the handler started on the receiving thread")
        #expect(h.responses(to: 1).isEmpty)
        #expect(try resultOf(h.call(2, "ping")) == .emptyObject)
        probe.open()
        #expect(try resultOf(await h.awaitResponse(to: 1))["isError"] == false)
        #expect(await eventually { h.server.inFlightCount == 0 })
    }
}
