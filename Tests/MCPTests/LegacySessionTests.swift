import JSON
import Log
import Testing

@testable import MCP

@Suite("Handshake (legacy) era")
struct LegacySessionTests {
    @Test(arguments: ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"])
    func initializeEchoesASupportedVersion(version: String) throws {
        let h = ServerHarness()
        let result = try resultOf(h.initialize(version))
        #expect(result["protocolVersion"] == .string(version))
        #expect(result["serverInfo"] == ["name": "test-server", "title": "Test Server", "version": "9.9.9"])
        #expect(result["capabilities"]?["tools"] != nil)
        #expect(result["capabilities"]?["logging"] != nil)
        #expect(result["instructions"] == "Use the tools.")
        #expect(result["resultType"] == nil, "legacy results carry no modern fields")
        #expect(h.server.state.withLock { $0.negotiatedVersion } == version)
    }

    @Test(arguments: ["1999-01-01", "2026-07-28", "2025-11-26", ""])
    func unknownVersionIsAnsweredWithTheNewestHandshakeVersion(offered: String) throws {
        let h = ServerHarness()
        let result = try resultOf(h.initialize(offered))
        #expect(result["protocolVersion"] == "2025-11-25")
        #expect(ProtocolVersion.latestHandshake == "2025-11-25")
    }

    @Test func initializeWithoutAProtocolVersionIsInvalidParams() throws {
        let h = ServerHarness()
        let r = try h.call(1, "initialize", ["capabilities": .emptyObject])
        #expect(try errorOf(r)["code"] == .int(-32602))
        #expect(h.server.state.withLock { $0.negotiatedVersion } == nil, "a failed initialize negotiates nothing")
    }

    @Test func pingAnswersAnEmptyObjectBeforeAndAfterInitialize() throws {
        let h = ServerHarness()
        #expect(try resultOf(h.call(1, "ping")) == .emptyObject)
        try h.initialize()
        #expect(try resultOf(h.call(2, "ping")) == .emptyObject)
        #expect(try resultOf(h.call(3, "ping", .emptyObject)) == .emptyObject)
    }

    @Test func toolsListOmitsFieldsTheNegotiatedVersionPredates() throws {
        let old = ServerHarness()
        try old.initialize("2024-11-05")
        let oldTool = try #require(resultOf(old.call(1, "tools/list"))["tools"]?.arrayValue?.first)
        #expect(oldTool["name"] == "echo")
        #expect(oldTool["inputSchema"] == TestTools.echoSchema)
        #expect(oldTool["title"] == nil && oldTool["outputSchema"] == nil && oldTool["annotations"] == nil)

        let mid = ServerHarness()
        try mid.initialize("2025-03-26")
        let midTool = try #require(resultOf(mid.call(1, "tools/list"))["tools"]?.arrayValue?.first)
        #expect(midTool["annotations"]?["readOnlyHint"] == true)
        #expect(midTool["title"] == nil && midTool["outputSchema"] == nil)

        let new = ServerHarness()
        try new.initialize("2025-06-18")
        let newTool = try #require(resultOf(new.call(1, "tools/list"))["tools"]?.arrayValue?.first)
        #expect(newTool["title"] == "Echo")
        #expect(newTool["outputSchema"] == TestTools.echoOutputSchema)
        #expect(newTool["annotations"]?["title"] == "Echo", "annotations default their title to the tool's")
    }

    @Test func setLevelRejectsAnUnknownLevel() throws {
        let h = ServerHarness()
        try h.initialize()
        #expect(try errorOf(h.call(1, "logging/setLevel", ["level": "chatty"]))["code"] == .int(-32602))
        #expect(try errorOf(h.call(2, "logging/setLevel", .emptyObject))["code"] == .int(-32602))
        #expect(try resultOf(h.call(3, "logging/setLevel", ["level": "notice"])) == .emptyObject)
    }

    @Test func toolLogsReachTheClientOnlyAtOrAboveTheLevelItSet() async throws {
        let h = ServerHarness()
        try h.initialize()
        _ = try await h.callTool(1, "echo", ["count": 1])
        #expect(h.notifications("notifications/message").isEmpty, "no level set: no log notifications")

        #expect(try resultOf(h.call(2, "logging/setLevel", ["level": "warning"])) == .emptyObject)
        _ = try await h.callTool(3, "echo", ["count": 1])
        let logs = h.notifications("notifications/message")
        #expect(logs.map { $0["params"]?["level"] } == ["warning", "error"])
        let warning = try #require(logs.first?["params"])
        #expect(warning["logger"] == "test-server")
        #expect(warning["data"]?["message"] == "warning detail")
        #expect(warning["data"]?["data"] == ["why": "test"])

        #expect(try resultOf(h.call(4, "logging/setLevel", ["level": "debug"])) == .emptyObject)
        _ = try await h.callTool(5, "echo", ["count": 1])
        let all = h.notifications("notifications/message").dropFirst(2).map { $0["params"]?["level"] }
        #expect(all == ["debug", "info", "warning", "error"])
    }
}
