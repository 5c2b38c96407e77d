import JSON
import Log

/// Hints about a tool's behaviour, shown to clients. Be honest: clients use them to decide
/// whether to ask the user before a call.
/// - SeeAlso: MCP 2025-11-25, ToolAnnotations.
public struct ToolAnnotations: Sendable, Equatable {
    public var title: String?
    public var readOnly: Bool
    public var destructive: Bool
    public var idempotent: Bool
    public var openWorld: Bool

    public init(title: String? = nil, readOnly: Bool, destructive: Bool = false, idempotent: Bool, openWorld: Bool) {
        self.title = title
        self.readOnly = readOnly
        self.destructive = destructive
        self.idempotent = idempotent
        self.openWorld = openWorld
    }

    var json: JSON {
        var o: JSONObject = [
            "readOnlyHint": .bool(readOnly),
            "destructiveHint": .bool(destructive),
            "idempotentHint": .bool(idempotent),
            "openWorldHint": .bool(openWorld),
        ]
        if let title { o["title"] = .string(title) }
        return .object(o)
    }
}

/// What a tool call returns: content blocks for the model, and structured content for programs.
public struct ToolResult: Sendable, Equatable {
    public var content: [JSON]
    public var structuredContent: JSON?
    public var isError: Bool

    public init(content: [JSON], structuredContent: JSON? = nil, isError: Bool = false) {
        self.content = content
        self.structuredContent = structuredContent
        self.isError = isError
    }

    /// A structured result: the value serialized into one text block, and as `structuredContent`.
    public static func structured(_ value: JSON, isError: Bool = false) -> ToolResult {
        ToolResult(content: [textBlock(value.text)], structuredContent: value, isError: isError)
    }

    /// A failed call the model can read and correct (`isError: true`).
    public static func error(_ message: String, structured: JSON? = nil) -> ToolResult {
        ToolResult(content: [textBlock(message)], structuredContent: structured, isError: true)
    }

    static func textBlock(_ text: String) -> JSON { ["type": "text", "text": .string(text)] }
}

/// A tool's refusal of its arguments; becomes an `isError` result naming the field.
public struct ToolArgumentError: Error, Sendable, Equatable {
    public let field: String
    public let message: String
    public init(field: String, _ message: String) {
        self.field = field
        self.message = message
    }
}

/// What a running tool call can do besides returning: report progress, log to the client, and
/// notice cancellation (through ordinary Swift task cancellation).
public struct ToolContext: Sendable {
    public let requestID: RequestID
    /// The request's `_meta`, as sent.
    public let meta: JSONObject
    let progress: ProgressReporter?
    let clientLog: ClientLog

    /// Sends `notifications/progress` when the request carried a progress token; values are kept
    /// strictly increasing as the spec requires.
    public func reportProgress(_ value: Double, total: Double? = nil, message: String? = nil) {
        progress?.report(value, total: total, message: message)
    }

    /// Sends `notifications/message` when the client asked for this level (legacy: `logging/setLevel`;
    /// modern: this request's `_meta` log level).
    public func log(_ level: LogLevel, _ message: String, data: JSON? = nil) {
        clientLog.send(level, message, data: data)
    }

    /// A context that reports nowhere, for calling tools directly in tests.
    public static func detached(requestID: RequestID = .int(0)) -> ToolContext {
        ToolContext(requestID: requestID, meta: JSONObject(), progress: nil, clientLog: ClientLog(sink: nil, level: nil))
    }
}

/// A tool the server offers: its description for `tools/list` and the code behind `tools/call`.
public struct Tool: Sendable {
    public typealias Handler = @Sendable (_ arguments: JSONObject, _ context: ToolContext) async throws -> ToolResult

    public let name: String
    public let title: String
    public let description: String
    /// JSON Schema 2020-12 for the arguments; checked before `handler` runs.
    public let inputSchema: JSON
    /// JSON Schema 2020-12 that `structuredContent` conforms to.
    public let outputSchema: JSON?
    public let annotations: ToolAnnotations
    public let handler: Handler

    public init(
        name: String, title: String, description: String, inputSchema: JSON, outputSchema: JSON? = nil,
        annotations: ToolAnnotations, handler: @escaping Handler
    ) {
        self.name = name
        self.title = title
        self.description = description
        self.inputSchema = inputSchema
        self.outputSchema = outputSchema
        self.annotations = annotations
        self.handler = handler
    }

    /// The `tools/list` entry, without the fields `version` predates.
    func listing(for version: String) -> JSON {
        var o: JSONObject = ["name": .string(name)]
        let structured = ProtocolVersion.hasStructuredTools(version)
        if structured { o["title"] = .string(title) }
        o["description"] = .string(description)
        o["inputSchema"] = inputSchema
        if structured, let outputSchema { o["outputSchema"] = outputSchema }
        if ProtocolVersion.hasToolAnnotations(version) {
            var a = annotations
            if a.title == nil { a.title = title }
            o["annotations"] = a.json
        }
        return .object(o)
    }
}
