import JSON
import Testing

@testable import MCP

/// A line and what it is, for the invalid-envelope table.
struct MalformedLine: Sendable, CustomTestStringConvertible {
    let line: String
    let expectedID: JSON
    var testDescription: String { line }
}

@Suite("JSON-RPC envelope")
struct JSONRPCEnvelopeTests {
    @Test(arguments: ["this is not json", "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"pi", "{\"jsonrpc\":\"2.0\",\"id\":1,\"id\":2,\"method\":\"ping\"}"])
    func nonJSONLineIsParseErrorWithNullID(line: String) throws {
        let h = ServerHarness()
        h.sendLine(line)
        let msgs = h.messages
        try #require(msgs.count == 1)
        #expect(msgs[0]["jsonrpc"] == "2.0")
        #expect(msgs[0]["id"] == .null)
        #expect(try errorOf(msgs[0])["code"] == .int(-32700))
        #expect(msgs[0]["result"] == nil)
        // The session is still usable afterwards.
        #expect(try resultOf(h.call(1, "ping")) == .emptyObject)
    }

    @Test func invalidUTF8IsAParseError() throws {
        let h = ServerHarness()
        h.server.receive(line: Array("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"x\":\"".utf8) + [0xFF, 0xFE] + Array("\"}".utf8))
        try #require(h.messages.count == 1)
        #expect(try errorOf(h.messages[0])["code"] == .int(-32700))
    }

    @Test(arguments: ["[]", "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]", "42", "\"ping\"", "null", "true"])
    func batchesAndNonObjectsAreInvalidRequestsWithNullID(line: String) throws {
        let h = ServerHarness()
        h.sendLine(line)
        try #require(h.messages.count == 1, "a batch gets one error, not one per member")
        #expect(h.messages[0]["id"] == .null)
        #expect(try errorOf(h.messages[0])["code"] == .int(-32600))
        if line.hasPrefix("[") {
            #expect(try errorOf(h.messages[0])["message"]?.stringValue?.contains("batch") == true)
        }
    }

    @Test(arguments: [
        MalformedLine(line: #"{"id":5,"method":"ping"}"#, expectedID: 5),
        MalformedLine(line: #"{"jsonrpc":"1.0","id":6,"method":"ping"}"#, expectedID: 6),
        MalformedLine(line: #"{"jsonrpc":2,"id":"s","method":"ping"}"#, expectedID: "s"),
        MalformedLine(line: #"{"jsonrpc":"2.0","id":7,"method":12}"#, expectedID: 7),
        MalformedLine(line: #"{"jsonrpc":"2.0","id":8,"method":"ping","params":[1,2]}"#, expectedID: 8),
        MalformedLine(line: #"{"jsonrpc":"2.0","id":9}"#, expectedID: 9),
    ])
    func malformedEnvelopeIsInvalidRequestEchoingAReadableID(_ c: MalformedLine) throws {
        let h = ServerHarness()
        h.sendLine(c.line)
        try #require(h.messages.count == 1)
        #expect(h.messages[0]["id"] == c.expectedID)
        #expect(try errorOf(h.messages[0])["code"] == .int(-32600))
    }

    @Test(arguments: ["null", "1.5", "true", "{}", "[1]"])
    func idOfWrongTypeIsInvalidRequestWithNullID(idText: String) throws {
        let h = ServerHarness()
        h.sendLine(#"{"jsonrpc":"2.0","id":\#(idText),"method":"ping"}"#)
        try #require(h.messages.count == 1)
        #expect(h.messages[0]["id"] == .null)
        let error = try errorOf(h.messages[0])
        #expect(error["code"] == .int(-32600))
        #expect(error["message"]?.stringValue?.contains("id") == true)
    }

    @Test func stringAndIntegerIDsAreEchoedWithTheirType() throws {
        let h = ServerHarness()
        #expect(try h.call("abc", "ping")["id"] == "abc")
        #expect(try h.call(7, "ping")["id"] == .int(7))
        #expect(try h.call("7", "ping")["id"] == "7")
        #expect(h.messages.count == 3)
    }

    @Test func unknownMethodIsMethodNotFoundWithTheRequestID() throws {
        let h = ServerHarness()
        try h.initialize()
        let legacy = try h.call(41, "resources/list")
        #expect(legacy["id"] == .int(41))
        #expect(try errorOf(legacy)["code"] == .int(-32601))
        #expect(try errorOf(legacy)["message"]?.stringValue?.contains("resources/list") == true)

        let fresh = ServerHarness()
        let modernCall = try fresh.call("m-1", "no/such/method", modern())
        #expect(modernCall["id"] == "m-1")
        #expect(try errorOf(modernCall)["code"] == .int(-32601))
    }

    @Test func notificationsGetNoResponse() throws {
        let h = ServerHarness()
        try h.initialize()
        let before = h.messages.count
        h.notify("notifications/initialized")
        h.notify("notifications/whatever", ["x": 1])
        h.notify("notifications/cancelled", ["requestId": 12345, "reason": "nothing to cancel"])
        h.notify("notifications/cancelled")  // no requestId at all
        h.notify("tools/list")  // a method the server knows, but without an id it is a notification
        #expect(h.messages.count == before)
    }

    @Test func responsesFromTheClientAreIgnored() throws {
        let h = ServerHarness()
        h.send(["jsonrpc": "2.0", "id": 99, "result": .emptyObject])
        h.send(["jsonrpc": "2.0", "id": "x", "error": ["code": -1, "message": "no"]])
        h.send(["jsonrpc": "2.0", "id": .null, "error": ["code": -32700, "message": "parse"]])
        #expect(h.messages.isEmpty)
        #expect(try resultOf(h.call(1, "ping")) == .emptyObject)
    }

    @Test func blankKeepAliveLinesAreIgnored() {
        let h = ServerHarness()
        for blank in ["", " ", "\t", "  \r", " \t \t"] { h.sendLine(blank) }
        #expect(h.messages.isEmpty)
    }

    @Test func oversizedLineGetsOneInvalidRequestNamingSizeAndLimit() throws {
        let h = ServerHarness()
        h.server.receiveOversized(byteCount: 5061, limit: 2048)
        try #require(h.messages.count == 1)
        #expect(h.messages[0]["id"] == .null)
        let error = try errorOf(h.messages[0])
        #expect(error["code"] == .int(-32600))
        let message = try #require(error["message"]?.stringValue)
        #expect(message.contains("5061") && message.contains("2048"))
    }

}
