import JSON

/// A JSON-RPC request id: MCP allows a string or an integer, never null.
public enum RequestID: Sendable, Hashable, CustomStringConvertible {
    case int(Int64)
    case string(String)

    /// Reads an id from the wire; `nil` for any other JSON type.
    public init?(_ json: JSON) {
        switch json {
        case .int(let i): self = .int(i)
        case .string(let s): self = .string(s)
        default: return nil
        }
    }

    public var json: JSON {
        switch self {
        case .int(let i): return .int(i)
        case .string(let s): return .string(s)
        }
    }

    public var description: String {
        switch self {
        case .int(let i): return String(i)
        case .string(let s): return s
        }
    }
}

/// A JSON-RPC error object. The codes are the JSON-RPC 2.0 ones plus MCP's.
public struct RPCError: Error, Sendable, Equatable {
    public let code: Int
    public let message: String
    public let data: JSON?

    public init(code: Int, message: String, data: JSON? = nil) {
        self.code = code
        self.message = message
        self.data = data
    }

    public static let parseErrorCode = -32700
    public static let invalidRequestCode = -32600
    public static let methodNotFoundCode = -32601
    public static let invalidParamsCode = -32602
    public static let internalErrorCode = -32603
    /// - SeeAlso: MCP 2026-07-28, UnsupportedProtocolVersionError.
    public static let unsupportedProtocolVersionCode = -32022

    public static func parseError(_ detail: String) -> RPCError {
        RPCError(code: parseErrorCode, message: "Parse error: \(detail)")
    }
    public static func invalidRequest(_ detail: String) -> RPCError {
        RPCError(code: invalidRequestCode, message: "Invalid request: \(detail)")
    }
    public static func methodNotFound(_ method: String, hint: String? = nil) -> RPCError {
        RPCError(
            code: methodNotFoundCode,
            message: "Method not found: \(method)" + (hint.map { " (\($0))" } ?? ""))
    }
    public static func invalidParams(_ detail: String, data: JSON? = nil) -> RPCError {
        RPCError(code: invalidParamsCode, message: "Invalid params: \(detail)", data: data)
    }
    public static func internalError(_ detail: String) -> RPCError {
        RPCError(code: internalErrorCode, message: "Internal error: \(detail)")
    }
    public static func unsupportedVersion(requested: String, supported: [String]) -> RPCError {
        RPCError(
            code: unsupportedProtocolVersionCode,
            message: "Unsupported protocol version \(requested); supported: \(supported.joined(separator: ", "))",
            data: ["supported": JSON(supported), "requested": .string(requested)])
    }

    var json: JSON {
        var o: JSONObject = ["code": .int(Int64(code)), "message": .string(message)]
        if let data { o["data"] = data }
        return .object(o)
    }
}

/// One line from the client, classified.
public enum IncomingMessage: Sendable, Equatable {
    case request(id: RequestID, method: String, params: JSONObject?)
    case notification(method: String, params: JSONObject?)
    /// A response to a request we sent; this server sends none, so these are logged and dropped.
    case response(id: JSON)
    /// Not a valid message; `id` is the request's id when it could be read, for the error reply.
    case invalid(id: RequestID?, error: RPCError)

    /// Classifies a parsed JSON value per JSON-RPC 2.0 as MCP restricts it (no batches, no null ids).
    public init(_ json: JSON) {
        guard case .object(let o) = json else {
            let what = json.arrayValue != nil ? "batches (JSON arrays) are not supported" : "expected an object, got \(json.typeName)"
            self = .invalid(id: nil, error: .invalidRequest(what))
            return
        }
        let idJSON = o["id"]
        let id = idJSON.flatMap(RequestID.init)
        guard o["jsonrpc"] == .string("2.0") else {
            self = .invalid(id: id, error: .invalidRequest("\"jsonrpc\" must be \"2.0\""))
            return
        }
        guard let methodJSON = o["method"] else {
            if o["result"] != nil || o["error"] != nil {
                self = .response(id: idJSON ?? .null)
            } else {
                self = .invalid(id: id, error: .invalidRequest("missing \"method\""))
            }
            return
        }
        guard case .string(let method) = methodJSON else {
            self = .invalid(id: id, error: .invalidRequest("\"method\" must be a string"))
            return
        }
        var params: JSONObject? = nil
        if let p = o["params"] {
            guard case .object(let po) = p else {
                self = .invalid(id: id, error: .invalidRequest("\"params\" must be an object"))
                return
            }
            params = po
        }
        if let idJSON {
            guard let id else {
                self = .invalid(id: nil, error: .invalidRequest("\"id\" must be a string or an integer, got \(idJSON.typeName)"))
                return
            }
            self = .request(id: id, method: method, params: params)
        } else {
            self = .notification(method: method, params: params)
        }
    }
}

/// Builders for the three kinds of message this server writes.
enum OutgoingMessage {
    static func result(id: RequestID, _ result: JSON) -> JSON {
        ["jsonrpc": "2.0", "id": id.json, "result": result]
    }
    static func error(id: RequestID?, _ error: RPCError) -> JSON {
        ["jsonrpc": "2.0", "id": id?.json ?? .null, "error": error.json]
    }
    static func notification(_ method: String, _ params: JSON) -> JSON {
        ["jsonrpc": "2.0", "method": .string(method), "params": params]
    }
}
