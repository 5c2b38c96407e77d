import JSON
import Log

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension MCPServer {
    func handleNotification(method: String, params: JSONObject?) {
        switch method {
        case "notifications/initialized":
            state.withLock { $0.initializedNotified = true }
        case "notifications/cancelled":
            guard let raw = params?["requestId"], let id = RequestID(raw) else {
                logger.debug("notifications/cancelled without a usable requestId")
                return
            }
            cancel(id, reason: params?["reason"]?.stringValue)
        default:
            logger.debug("ignoring notification", ["method": .string(method)])
        }
    }

    /// Stops a request's work; its response is suppressed. Unknown or finished ids are ignored, as
    /// the spec allows for the race between completion and cancellation.
    /// - SeeAlso: MCP 2025-11-25, basic/utilities/cancellation.
    func cancel(_ id: RequestID, reason: String?) {
        let task: Task<Void, Never>? = state.withLock { s in
            guard s.inFlight[id] != nil else { return nil }
            s.inFlight[id]!.cancelled = true
            return s.inFlight[id]!.task
        }
        if let task {
            logger.info("request cancelled by client", ["id": id.json, "reason": JSON(reason)])
            task.cancel()
        }
    }

    /// Requests still running.
    public var inFlightCount: Int { state.withLock { $0.inFlight.count } }

    /// Refuses new calls, lets running ones finish for up to `drain`, then cancels the rest and waits
    /// up to `grace` for them to end. Cancelled calls send no response.
    public func shutdown(drain: Duration = .zero, grace: Duration = .milliseconds(500)) async {
        state.withLock { $0.closing = true }
        await waitForInFlight(upTo: drain)
        let tasks: [Task<Void, Never>] = state.withLock { s in
            for key in s.inFlight.keys { s.inFlight[key]!.cancelled = true }
            return s.inFlight.values.compactMap(\.task)
        }
        for task in tasks { task.cancel() }
        for hook in state.withLock({ $0.shutdownHooks }) { await hook() }
        await waitForInFlight(upTo: grace)
    }

    /// Registers work to stop at shutdown that outlives a single call (background runs, say).
    public func onShutdown(_ hook: @escaping @Sendable () async -> Void) {
        state.withLock { $0.shutdownHooks.append(hook) }
    }

    private func waitForInFlight(upTo limit: Duration) async {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: limit)
        while inFlightCount > 0, clock.now < deadline {
            try? await Task.sleep(for: .milliseconds(2))
        }
    }
}
