import JSON
import Log
import Synchronization

/// An MCP server session over one message stream (stdio): framing-independent, era-aware.
///
/// Feed it lines with `receive(line:)`; it writes responses and notifications to its sink.
/// Cheap methods are answered in arrival order on the caller's thread; `tools/call` runs as its own
/// task, so a slow tool never delays `ping` or `tools/list`, and responses may come out of order.
/// That task starts on the caller's thread and keeps it until its first suspension, so a tool must
/// `await` whatever may take long (disk, locks, the network) rather than block.
public final class MCPServer: Sendable {
    public let info: ServerInfo
    let tools: ToolRegistry
    let sink: MessageSink
    let logger: Logger
    let state = Mutex(SessionState())

    /// How long clients may cache `tools/list` and `server/discover` (modern era).
    public static let listTTLMilliseconds: Int64 = 300_000

    public init(info: ServerInfo, tools: ToolRegistry, sink: MessageSink, logger: Logger) {
        self.info = info
        self.tools = tools
        self.sink = sink
        self.logger = logger
    }

    /// Handles one line from the client. Never throws and never blocks on tool work.
    public func receive(line: [UInt8]) {
        if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { return }  // blank keep-alive lines
        let json: JSON
        do {
            json = try JSON.parse(line)
        } catch {
            logger.debug("unparseable line", ["bytes": .int(Int64(line.count)), "error": .string(error.description)])
            sink.send(OutgoingMessage.error(id: nil, .parseError(error.description)))
            return
        }
        switch IncomingMessage(json) {
        case .request(let id, let method, let params):
            handleRequest(id: id, method: method, params: params)
        case .notification(let method, let params):
            handleNotification(method: method, params: params)
        case .response(let id):
            logger.debug("ignoring a response; this server sends no requests", ["id": id])
        case .invalid(let id, let error):
            sink.send(OutgoingMessage.error(id: id, error))
        }
    }

    /// Answers a line that exceeded the framing limit; reading continues with the next line.
    public func receiveOversized(byteCount: Int, limit: Int) {
        logger.warning("line over the size limit dropped", ["bytes": .int(Int64(byteCount)), "limit": .int(Int64(limit))])
        sink.send(
            OutgoingMessage.error(
                id: nil, .invalidRequest("message of \(byteCount) bytes exceeds the \(limit)-byte line limit")))
    }

    func reply(_ id: RequestID, _ outcome: Result<JSON, RPCError>, era: Era) {
        switch outcome {
        case .success(let result): sink.send(OutgoingMessage.result(id: id, shape(result, for: era)))
        case .failure(let error): sink.send(OutgoingMessage.error(id: id, error))
        }
    }

    /// Adds what the modern era requires on every result: `resultType` and the server's identity.
    /// - SeeAlso: MCP 2026-07-28, Result and ResultMetaObject.
    func shape(_ result: JSON, for era: Era) -> JSON {
        guard case .modern = era, case .object(var o) = result else { return result }
        o["resultType"] = "complete"
        var meta = o["_meta"]?.objectValue ?? JSONObject()
        meta[MetaKey.serverInfo] = ["name": .string(info.name), "version": .string(info.version)]
        o["_meta"] = .object(meta)
        return .object(o)
    }
}

/// The protocol era a request is served in.
enum Era: Sendable, Equatable {
    /// After `initialize`, with the negotiated version.
    case legacy(String)
    /// A per-request envelope naming this version.
    case modern(String)

    var version: String {
        switch self {
        case .legacy(let v), .modern(let v): return v
        }
    }
}

struct SessionState: Sendable {
    /// Set by `initialize`: from then on the session is in the handshake era.
    var negotiatedVersion: String?
    var initializedNotified = false
    /// Set by `logging/setLevel` (handshake era only).
    var clientLogLevel: LogLevel?
    var inFlight: [RequestID: InFlightCall] = [:]
    /// Numbers admitted calls, so a call's task handle is never stored under a later call's entry.
    var nextCallSerial: UInt64 = 0
    var closing = false
    /// Run by `shutdown` after in-flight calls are cancelled (work the server started outside a call).
    var shutdownHooks: [@Sendable () async -> Void] = []
}

struct InFlightCall: Sendable {
    /// Set just after the task starts; `nil` while it is being started (and in tests).
    var task: Task<Void, Never>?
    var serial: UInt64 = 0
    var cancelled = false
}
