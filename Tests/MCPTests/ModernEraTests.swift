import JSON
import Testing

@testable import MCP

@Suite("Modern era (2026-07-28)")
struct ModernEraTests {
    /// Checks what the modern era adds to every result.
    private func expectModernShape(_ response: JSON, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let result = try resultOf(response, sourceLocation: sourceLocation)
        #expect(result["resultType"] == "complete", sourceLocation: sourceLocation)
        #expect(
            result["_meta"]?[MetaKey.serverInfo] == ["name": "test-server", "version": "9.9.9"],
            sourceLocation: sourceLocation)
    }

    @Test func discoverWorksWithProtocolVersionAndClientCapabilitiesInMeta() throws {
        let h = ServerHarness()
        let response = try h.call(1, "server/discover", modern())
        let result = try resultOf(response)
        #expect(result["supportedVersions"] == JSON(ProtocolVersion.all))
        #expect(result["supportedVersions"]?.arrayValue?.contains("2026-07-28") == true)
        #expect(result["supportedVersions"]?.arrayValue?.contains("2025-11-25") == true)
        #expect(result["capabilities"]?["tools"] != nil && result["capabilities"]?["logging"] != nil)
        #expect(result["instructions"] == "Use the tools.")
        #expect(result["ttlMs"] == .int(MCPServer.listTTLMilliseconds))
        #expect(result["cacheScope"] == "public")
        try expectModernShape(response)
        #expect(h.server.state.withLock { $0.negotiatedVersion } == nil, "modern requests leave the session unnegotiated")
    }

    @Test func everyModernResultHasResultTypeCompleteAndServerInfo() async throws {
        let h = ServerHarness()
        try expectModernShape(h.call(1, "ping", modern()))
        try expectModernShape(h.call(2, "server/discover", modern()))
        try expectModernShape(h.call(3, "tools/list", modern()))
        try expectModernShape(await h.callTool(4, "echo", ["count": 2], meta: modernMeta()))
        try expectModernShape(await h.callTool(5, "echo", ["count": "two"], meta: modernMeta()))  // isError results too
    }

    @Test func modernToolsListHasTTLAndCacheScope() throws {
        let h = ServerHarness()
        let result = try resultOf(h.call(1, "tools/list", modern()))
        #expect(result["ttlMs"] == .int(300_000))
        #expect(result["cacheScope"] == "public")
        let tool = try #require(result["tools"]?.arrayValue?.first)
        #expect(tool["name"] == "echo" && tool["outputSchema"] != nil)
    }

    @Test func unsupportedProtocolVersionIs32022WithSupportedAndRequested() throws {
        let h = ServerHarness()
        let response = try h.call(
            "v", "tools/list", modern(meta: [MetaKey.protocolVersion: "2099-01-01"]))
        #expect(response["id"] == "v")
        let error = try errorOf(response)
        #expect(error["code"] == .int(-32022))
        #expect(error["data"]?["requested"] == "2099-01-01")
        #expect(error["data"]?["supported"] == JSON(ProtocolVersion.all))

        // A handshake-era version cannot be named in the per-request envelope either.
        let handshake = try errorOf(h.call(2, "tools/list", modern(meta: [MetaKey.protocolVersion: "2025-11-25"])))
        #expect(handshake["code"] == .int(-32022))
        #expect(handshake["data"]?["requested"] == "2025-11-25")
    }

    @Test func missingRequiredMetaIsInvalidParams() throws {
        let h = ServerHarness()
        #expect(try errorOf(h.call(1, "tools/list"))["code"] == .int(-32602))
        #expect(try errorOf(h.call(2, "tools/list", .emptyObject))["code"] == .int(-32602))
        #expect(try errorOf(h.call(3, "tools/call", ["name": "echo", "arguments": ["count": 1]]))["code"] == .int(-32602))

        let noCapabilities = try errorOf(h.call(4, "tools/list", ["_meta": [MetaKey.protocolVersion: "2026-07-28"]]))
        #expect(noCapabilities["code"] == .int(-32602))
        #expect(noCapabilities["message"]?.stringValue?.contains("clientCapabilities") == true)

        let capabilitiesNotObject = try errorOf(
            h.call(5, "tools/list", modern(meta: [MetaKey.clientCapabilities: "all"])))
        #expect(capabilitiesNotObject["code"] == .int(-32602))

        let versionNotString = try errorOf(h.call(6, "tools/list", modern(meta: [MetaKey.protocolVersion: 20260728])))
        #expect(versionNotString["code"] == .int(-32602))

        let badLogLevel = try errorOf(h.call(7, "tools/list", modern(meta: [MetaKey.logLevel: "loud"])))
        #expect(badLogLevel["code"] == .int(-32602))
        #expect(h.messages.count == 7)
    }

    @Test func beforeInitializeNeitherPingNorModernRequestsCommitTheSessionToAnEra() throws {
        let h = ServerHarness()
        #expect(try resultOf(h.call(0, "ping")) == .emptyObject, "ping needs no _meta")
        try expectModernShape(h.call(1, "server/discover", modern()))
        #expect(try errorOf(h.call(2, "tools/list"))["code"] == .int(-32602), "still needs _meta on every request")
        #expect(try resultOf(h.initialize())["protocolVersion"] == "2025-11-25", "initialize is still possible")
    }

    @Test func setLevelIsMethodNotFoundInTheModernEra() throws {
        let h = ServerHarness()
        let error = try errorOf(h.call(1, "logging/setLevel", modern(["level": "info"])))
        #expect(error["code"] == .int(-32601))
        #expect(error["message"]?.stringValue?.contains(MetaKey.logLevel) == true)
    }

    @Test func modernLogLevelInMetaOptsInToLogNotificationsForThatRequest() async throws {
        let h = ServerHarness()
        _ = try await h.callTool(1, "echo", ["count": 1], meta: modernMeta())
        #expect(h.notifications("notifications/message").isEmpty)
        _ = try await h.callTool(2, "echo", ["count": 1], meta: modernMeta([MetaKey.logLevel: "error"]))
        #expect(h.notifications("notifications/message").map { $0["params"]?["level"] } == ["error"])
        _ = try await h.callTool(3, "echo", ["count": 1], meta: modernMeta())
        #expect(h.notifications("notifications/message").count == 1, "the level applies to one request only")
    }

    // After `initialize` the session belongs to the handshake era: the modern envelope is not
    // interpreted at all (no -32022, no resultType), and modern-only methods are not found.

    @Test func afterInitializeServerDiscoverIsMethodNotFound() throws {
        let h = ServerHarness()
        try h.initialize()
        let error = try errorOf(h.call(1, "server/discover", modern()))
        #expect(error["code"] == .int(-32601))
        #expect(error["message"]?.stringValue?.contains("2025-11-25") == true)
    }

    @Test func afterInitializeModernMetaIsIgnoredAndResultsHaveTheLegacyShape() async throws {
        let h = ServerHarness()
        try h.initialize("2025-06-18")
        let listed = try resultOf(h.call(1, "tools/list", modern()))
        #expect(listed["resultType"] == nil && listed["_meta"] == nil)
        #expect(listed["ttlMs"] == nil && listed["cacheScope"] == nil)
        #expect(try resultOf(h.call(2, "ping", modern())) == .emptyObject)

        // Even a version the modern era would refuse with -32022 is just ignored now.
        let unsupported = try resultOf(h.call(3, "tools/list", modern(meta: [MetaKey.protocolVersion: "2099-01-01"])))
        #expect(unsupported["tools"] != nil)

        let called = try resultOf(await h.callTool(4, "echo", ["count": 3], meta: modernMeta()))
        #expect(called["resultType"] == nil)
        #expect(called["structuredContent"] == ["count": 3, "mode": "fast"])
    }
}
