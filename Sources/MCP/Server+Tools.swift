import JSON
import Log

extension MCPServer {
    /// Starts a `tools/call` as its own task, tracked by request id so it can be cancelled.
    /// - SeeAlso: MCP 2025-11-25, server/tools (calling tools, error handling).
    func callTool(id: RequestID, params: JSONObject, envelope: RequestEnvelope) {
        guard case .string(let name) = params["name"] else {
            reply(id, .failure(.invalidParams("tools/call needs params.name (a string)")), era: envelope.era)
            return
        }
        guard let tool = tools.tool(named: name) else {
            let known = tools.names.joined(separator: ", ")
            reply(id, .failure(.invalidParams("Unknown tool: \(name) (known tools: \(known))")), era: envelope.era)
            return
        }
        let arguments: JSONObject
        switch params["arguments"] {
        case nil, .null?: arguments = JSONObject()
        case .object(let o)?: arguments = o
        default:
            reply(id, .failure(.invalidParams("params.arguments must be an object")), era: envelope.era)
            return
        }
        let context = ToolContext(
            requestID: id, meta: envelope.meta,
            progress: envelope.progressToken.map { ProgressReporter(token: $0, sink: sink) },
            clientLog: ClientLog(sink: sink, level: envelope.logLevel, loggerName: info.name))

        // Admit the call under the lock, but start its task outside it: the task may run to its end
        // (and take the lock in `finish`) before `Task.immediate` returns.
        let serial: UInt64? = state.withLock { s in
            guard !s.closing, s.inFlight[id] == nil else { return nil }
            s.nextCallSerial &+= 1
            s.inFlight[id] = InFlightCall(task: nil, serial: s.nextCallSerial)
            return s.nextCallSerial
        }
        guard let serial else {
            let closing = state.withLock { $0.closing }
            reply(
                id,
                .failure(closing ? .internalError("server is shutting down") : .invalidRequest("request id \(id) is already in flight")),
                era: envelope.era)
            return
        }
        let era = envelope.era
        let task = Self.startTask { [self] in
            let result = await Self.run(tool, arguments: arguments, context: context, logger: logger)
            finish(id, result: result, era: era)
        }
        // Keep the handle for cancellation unless the call already finished. A cancellation that came
        // in before the handle was stored only set the flag; honour it now.
        let cancelNow: Bool = state.withLock { s in
            guard var call = s.inFlight[id], call.serial == serial else { return false }
            call.task = task
            s.inFlight[id] = call
            return call.cancelled
        }
        if cancelNow { task.cancel() }
    }

    /// Starts a tool call's task. It runs on the calling thread up to its first real suspension (a
    /// tool that answers without waiting is answered before the next line is read, with no thread
    /// hand-off); whatever it awaits later resumes on the cooperative pool, so a tool that waits
    /// (on disk, a lock, a timer) never delays the lines after it.
    static func startTask(_ operation: sending @escaping @isolated(any) () async -> Void) -> Task<Void, Never> {
        if #available(macOS 26.0, iOS 26.0, tvOS 26.0, watchOS 26.0, visionOS 26.0, *) {
            return Task.immediate(operation: operation)
        } else {
            return Task(operation: operation)
        }
    }

    /// Validates the arguments, runs the handler, and turns every outcome into a result; `nil` when
    /// the call was cancelled (no response is sent for a cancelled request).
    static func run(_ tool: Tool, arguments: JSONObject, context: ToolContext, logger: Logger) async -> ToolResult? {
        if let problem = SchemaValidator.validate(.object(arguments), against: tool.inputSchema) {
            return .error("Invalid argument \(problem.field): \(problem.message)")
        }
        do {
            let result = try await tool.handler(arguments, context)
            return Task.isCancelled ? nil : result
        } catch let problem as ToolArgumentError {
            return .error("Invalid argument \(problem.field): \(problem.message)")
        } catch is CancellationError {
            return nil
        } catch {
            logger.error("tool failed", ["tool": .string(tool.name), "error": .string(String(describing: error))])
            return .error("\(tool.name) failed: \(error)")
        }
    }

    func finish(_ id: RequestID, result: ToolResult?, era: Era) {
        let call = state.withLock { $0.inFlight.removeValue(forKey: id) }
        guard let result, call?.cancelled != true else { return }
        var o: JSONObject = ["content": .array(result.content)]
        if let structured = result.structuredContent, ProtocolVersion.hasStructuredTools(era.version) {
            o["structuredContent"] = structured
        }
        o["isError"] = .bool(result.isError)
        reply(id, .success(.object(o)), era: era)
    }
}
