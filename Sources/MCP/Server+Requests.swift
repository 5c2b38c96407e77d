import JSON
import Log

/// The per-request envelope: which era, and what the request asked for in `_meta`.
struct RequestEnvelope: Sendable {
    let era: Era
    let meta: JSONObject
    let logLevel: LogLevel?
    let progressToken: JSON?
}

extension MCPServer {
    func handleRequest(id: RequestID, method: String, params: JSONObject?) {
        let envelope: RequestEnvelope
        do {
            envelope = try resolveEnvelope(method: method, params: params)
        } catch {
            sink.send(OutgoingMessage.error(id: id, error))
            return
        }
        let params = params ?? JSONObject()
        switch method {
        case "initialize":
            reply(id, initialize(params), era: envelope.era)
        case "ping":
            reply(id, .success(.emptyObject), era: envelope.era)
        case "logging/setLevel":
            reply(id, setLevel(params, era: envelope.era), era: envelope.era)
        case "server/discover":
            reply(id, discover(era: envelope.era), era: envelope.era)
        case "tools/list":
            var result: JSONObject = ["tools": tools.listing(for: envelope.era.version)]
            if case .modern = envelope.era {
                result["ttlMs"] = .int(Self.listTTLMilliseconds)
                result["cacheScope"] = "public"
            }
            reply(id, .success(.object(result)), era: envelope.era)
        case "tools/call":
            callTool(id: id, params: params, envelope: envelope)
        default:
            reply(id, .failure(.methodNotFound(method)), era: envelope.era)
        }
    }

    /// Decides the era of a request and checks its `_meta` envelope.
    ///
    /// `initialize` puts the session in the handshake era for good. Before that, a request must carry
    /// the modern envelope (`io.modelcontextprotocol/protocolVersion` and `.../clientCapabilities`);
    /// `ping` alone is answered either way.
    func resolveEnvelope(method: String, params: JSONObject?) throws(RPCError) -> RequestEnvelope {
        let meta = params?["_meta"]?.objectValue ?? JSONObject()
        // A progress token is a string or any number (MCP ProgressToken); anything else is ignored.
        let progressToken: JSON? = meta[MetaKey.progressToken].flatMap { token in
            switch token {
            case .string, .int, .double: token
            default: nil
            }
        }
        let (negotiated, level) = state.withLock { ($0.negotiatedVersion, $0.clientLogLevel) }
        if method == "initialize" || negotiated != nil {
            let version = method == "initialize" ? ProtocolVersion.latestHandshake : negotiated!
            return RequestEnvelope(era: .legacy(version), meta: meta, logLevel: level, progressToken: progressToken)
        }
        guard let requested = meta[MetaKey.protocolVersion] else {
            if method == "ping" {
                return RequestEnvelope(
                    era: .legacy(ProtocolVersion.latestHandshake), meta: meta, logLevel: nil, progressToken: nil)
            }
            throw .invalidParams(
                "missing params._meta[\"\(MetaKey.protocolVersion)\"]; send initialize first (handshake era) "
                    + "or name the protocol version on every request (\(ProtocolVersion.latestModern))")
        }
        guard case .string(let version) = requested else {
            throw .invalidParams("params._meta[\"\(MetaKey.protocolVersion)\"] must be a string")
        }
        guard ProtocolVersion.modern.contains(version) else {
            throw .unsupportedVersion(requested: version, supported: ProtocolVersion.all)
        }
        guard meta[MetaKey.clientCapabilities]?.objectValue != nil else {
            throw .invalidParams("missing params._meta[\"\(MetaKey.clientCapabilities)\"] (an object; {} declares none)")
        }
        var logLevel: LogLevel? = nil
        if let raw = meta[MetaKey.logLevel] {
            guard let name = raw.stringValue, let level = LogLevel(rawValue: name) else {
                throw .invalidParams(
                    "params._meta[\"\(MetaKey.logLevel)\"] must be one of "
                        + LogLevel.allCases.map(\.rawValue).joined(separator: ", "))
            }
            logLevel = level
        }
        return RequestEnvelope(era: .modern(version), meta: meta, logLevel: logLevel, progressToken: progressToken)
    }

    /// - SeeAlso: MCP 2025-11-25, basic/lifecycle.
    func initialize(_ params: JSONObject) -> Result<JSON, RPCError> {
        guard let offered = params["protocolVersion"]?.stringValue else {
            return .failure(.invalidParams("initialize needs params.protocolVersion (a string)"))
        }
        let version = ProtocolVersion.negotiate(offered)
        state.withLock { $0.negotiatedVersion = version }
        let client = params["clientInfo"]?["name"]?.stringValue ?? "unknown"
        logger.info("session initialized", ["protocolVersion": .string(version), "offered": .string(offered), "client": .string(client)])
        var result: JSONObject = [
            "protocolVersion": .string(version),
            "capabilities": capabilities,
            "serverInfo": info.implementation,
        ]
        if let instructions = info.instructions { result["instructions"] = .string(instructions) }
        return .success(.object(result))
    }

    /// - SeeAlso: MCP 2026-07-28, server/discover.
    func discover(era: Era) -> Result<JSON, RPCError> {
        guard case .modern = era else {
            return .failure(
                .methodNotFound(
                    "server/discover",
                    hint: "this session negotiated \(era.version) through initialize; server/discover belongs to \(ProtocolVersion.latestModern)"))
        }
        var result: JSONObject = [
            "supportedVersions": JSON(ProtocolVersion.all),
            "capabilities": capabilities,
            "ttlMs": .int(Self.listTTLMilliseconds),
            "cacheScope": "public",
        ]
        if let instructions = info.instructions { result["instructions"] = .string(instructions) }
        return .success(.object(result))
    }

    func setLevel(_ params: JSONObject, era: Era) -> Result<JSON, RPCError> {
        guard case .legacy = era else {
            return .failure(
                .methodNotFound(
                    "logging/setLevel",
                    hint: "in \(ProtocolVersion.latestModern) send params._meta[\"\(MetaKey.logLevel)\"] with each request"))
        }
        guard let name = params["level"]?.stringValue, let level = LogLevel(rawValue: name) else {
            return .failure(
                .invalidParams("level must be one of " + LogLevel.allCases.map(\.rawValue).joined(separator: ", ")))
        }
        state.withLock { $0.clientLogLevel = level }
        return .success(.emptyObject)
    }

    var capabilities: JSON {
        ["tools": ["listChanged": false], "logging": .emptyObject]
    }
}
