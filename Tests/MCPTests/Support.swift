import JSON
import Log
import Synchronization
import Testing
import TestSupport

@testable import MCP

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - CPU time

/// CPU time the calling thread has used so far, in nanoseconds: tests that wait on a descriptor use
/// it to tell sleeping (a few µs) from spinning (all of the wait).
func threadCPUNanoseconds() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
}

// MARK: - A server on a collecting sink

/// The `_meta` every modern-era (2026-07-28) request must carry.
func modernMeta(_ extra: JSONObject = [:]) -> JSONObject {
    var meta: JSONObject = [
        MetaKey.protocolVersion: "2026-07-28",
        MetaKey.clientCapabilities: .emptyObject,
    ]
    for (k, v) in extra { meta[k] = v }
    return meta
}

/// `params` with the modern envelope added under `_meta`.
func modern(_ params: JSONObject = [:], meta extra: JSONObject = [:]) -> JSON {
    var p = params
    p["_meta"] = .object(modernMeta(extra))
    return .object(p)
}

/// An `MCPServer` writing into a `CollectingSink`, with helpers to talk JSON-RPC to it.
struct ServerHarness {
    static let info = ServerInfo(name: "test-server", title: "Test Server", version: "9.9.9", instructions: "Use the tools.")

    let sink = CollectingSink()
    let server: MCPServer

    init(tools: [Tool] = [TestTools.echo()]) {
        server = MCPServer(info: Self.info, tools: ToolRegistry(tools), sink: sink, logger: .discard)
    }

    var messages: [JSON] { sink.all }

    func sendLine(_ text: String) { server.receive(line: Array(text.utf8)) }

    func send(_ message: JSON) { server.receive(line: Array(message.text.utf8)) }

    func request(_ id: JSON, _ method: String, _ params: JSON? = nil) {
        var o: JSONObject = ["jsonrpc": "2.0", "id": id, "method": .string(method)]
        if let params { o["params"] = params }
        send(.object(o))
    }

    func notify(_ method: String, _ params: JSON? = nil) {
        var o: JSONObject = ["jsonrpc": "2.0", "method": .string(method)]
        if let params { o["params"] = params }
        send(.object(o))
    }

    /// Responses (messages without a method) carrying `id`.
    func responses(to id: JSON) -> [JSON] {
        messages.filter { $0["method"] == nil && $0["id"] == id }
    }

    /// Notifications the server sent with `method`.
    func notifications(_ method: String) -> [JSON] {
        messages.filter { $0["method"] == .string(method) }
    }

    /// Sends a request the server answers on the calling thread and returns that one response.
    func call(
        _ id: JSON, _ method: String, _ params: JSON? = nil, sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> JSON {
        request(id, method, params)
        let answers = responses(to: id)
        try #require(answers.count == 1, "expected one response to \(id.text), got \(answers.map(\.text))",
            sourceLocation: sourceLocation)
        return answers[0]
    }

    /// Waits (bounded) for the response to an asynchronously answered request such as `tools/call`.
    func awaitResponse(
        to id: JSON, within timeout: Duration = .seconds(2), sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> JSON {
        let arrived = await eventually(within: timeout) { !responses(to: id).isEmpty }
        try #require(arrived, "no response to \(id.text) within \(timeout)", sourceLocation: sourceLocation)
        return responses(to: id)[0]
    }

    /// Sends a `tools/call` and waits for its response.
    func callTool(
        _ id: JSON, _ name: String, _ arguments: JSON = .emptyObject, meta: JSONObject? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> JSON {
        var params: JSONObject = ["name": .string(name), "arguments": arguments]
        if let meta { params["_meta"] = .object(meta) }
        request(id, "tools/call", .object(params))
        return try await awaitResponse(to: id, sourceLocation: sourceLocation)
    }

    /// Puts the session in the handshake era.
    @discardableResult
    func initialize(_ version: String = "2025-11-25", sourceLocation: SourceLocation = #_sourceLocation) throws -> JSON {
        let r = try call(
            "init", "initialize",
            ["protocolVersion": .string(version), "capabilities": .emptyObject,
             "clientInfo": ["name": "tests", "version": "1"]],
            sourceLocation: sourceLocation)
        notify("notifications/initialized")
        return r
    }
}

/// The error object of a response; fails the test when it is a result.
func errorOf(_ message: JSON, sourceLocation: SourceLocation = #_sourceLocation) throws -> JSON {
    try #require(message["error"], "expected an error, got \(message.text)", sourceLocation: sourceLocation)
}

/// The result object of a response; fails the test when it is an error.
func resultOf(_ message: JSON, sourceLocation: SourceLocation = #_sourceLocation) throws -> JSON {
    try #require(message["result"], "expected a result, got \(message.text)", sourceLocation: sourceLocation)
}

/// The text of every text content block of a tool result.
func contentText(_ result: JSON) -> String {
    (result["content"]?.arrayValue ?? []).compactMap { $0["text"]?.stringValue }.joined(separator: "\n")
}

// MARK: - Tools for the tests

/// What a test tool saw: whether it started, whether it observed cancellation, and the gate the test
/// opens to let it finish.
final class Probe: Sendable {
    private struct State {
        var started = 0
        var gateOpen = false
        var observedCancellation = false
        var finished = false
    }

    private let state = Mutex(State())

    init() {}

    var startedCount: Int { state.withLock { $0.started } }
    var isOpen: Bool { state.withLock { $0.gateOpen } }
    var observedCancellation: Bool { state.withLock { $0.observedCancellation } }
    var finished: Bool { state.withLock { $0.finished } }

    func markStarted() { state.withLock { $0.started += 1 } }
    func open() { state.withLock { $0.gateOpen = true } }
    func markCancelled() { state.withLock { $0.observedCancellation = true } }
    func markFinished() { state.withLock { $0.finished = true } }
}

enum TestTools {
    static let annotations = ToolAnnotations(readOnly: true, idempotent: true, openWorld: false)

    static let echoSchema: JSON = [
        "type": "object",
        "properties": [
            "count": ["type": "integer", "minimum": 0, "description": "How many."],
            "mode": ["type": "string", "enum": ["fast", "careful"]],
        ],
        "required": ["count"],
        "additionalProperties": false,
    ]

    static let echoOutputSchema: JSON = [
        "type": "object",
        "properties": ["count": ["type": "integer"], "mode": ["type": "string"]],
        "required": ["count", "mode"],
    ]

    /// Validated arguments in, structured result out; logs once at each of four levels.
    static func echo() -> Tool {
        Tool(
            name: "echo", title: "Echo", description: "Returns its arguments as structured content.",
            inputSchema: echoSchema, outputSchema: echoOutputSchema, annotations: annotations
        ) { arguments, context in
            context.log(.debug, "debug detail")
            context.log(.info, "info detail")
            context.log(.warning, "warning detail", data: ["why": "test"])
            context.log(.error, "error detail")
            let count = arguments["count"]?.exactInteger ?? 0
            let mode = arguments["mode"] ?? "fast"
            return .structured(["count": .int(count), "mode": mode])
        }
    }

    /// Refuses its arguments from inside the handler, or fails outright.
    static func picky() -> Tool {
        Tool(
            name: "picky", title: "Picky", description: "Throws.", inputSchema: ["type": "object"],
            annotations: annotations
        ) { arguments, _ in
            if arguments["explode"] == .bool(true) { throw TestFailure(reason: "kaboom") }
            throw ToolArgumentError(field: "target", "must name a known role")
        }
    }

    /// Reports the given progress values in order, then returns.
    static func stepper(_ values: [Double], total: Double? = nil) -> Tool {
        Tool(
            name: "stepper", title: "Stepper", description: "Reports progress.", inputSchema: ["type": "object"],
            annotations: annotations
        ) { _, context in
            for v in values { context.reportProgress(v, total: total, message: "step") }
            return .structured(["done": true])
        }
    }

    /// Runs until the probe's gate opens, reporting progress every few milliseconds; records when it
    /// sees cancellation (through `Task.sleep` throwing).
    static func gated(_ probe: Probe, name: String = "slow") -> Tool {
        Tool(
            name: name, title: "Slow", description: "Waits for the test.", inputSchema: ["type": "object"],
            annotations: annotations
        ) { _, context in
            probe.markStarted()
            var step = 0.0
            do {
                while !probe.isOpen {
                    step += 1
                    context.reportProgress(step, message: "waiting")
                    try await Task.sleep(for: .milliseconds(3))
                }
            } catch {
                probe.markCancelled()
                throw error
            }
            probe.markFinished()
            return .structured(["steps": .double(step)])
        }
    }

    /// Like `gated`, but ignores cancellation and returns a normal result once the gate opens.
    static func stubborn(_ probe: Probe) -> Tool {
        Tool(
            name: "stubborn", title: "Stubborn", description: "Ignores cancellation.", inputSchema: ["type": "object"],
            annotations: annotations
        ) { _, _ in
            probe.markStarted()
            while !probe.isOpen {
                if Task.isCancelled { probe.markCancelled() }
                await Task.yield()
                try? await Task.sleep(for: .milliseconds(1))
            }
            probe.markFinished()
            return .structured(["ignored": "cancellation"])
        }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let reason: String
    var description: String { reason }
}
