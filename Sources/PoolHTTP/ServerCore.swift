import CMicroHTTPD
import JSON
import Log
import Runs
import Synchronization

/// What one request is for, decided from its method and path when its headers arrive.
enum Route: Equatable {
    case submit
    case cancel(runID: String)
    case status
    case health
    case ready
    case metrics
    case notFound
    case methodNotAllowed(allow: String)

    var needsAuth: Bool {
        switch self {
        case .submit, .cancel, .status: true
        default: false
        }
    }

    static func of(method: String, path: String) -> Route {
        let readable = method == "GET" || method == "HEAD"
        switch path {
        case "/v1/runs": return method == "POST" ? .submit : .methodNotAllowed(allow: "POST")
        case "/v1/status": return readable ? .status : .methodNotAllowed(allow: "GET, HEAD")
        case "/healthz": return readable ? .health : .methodNotAllowed(allow: "GET, HEAD")
        case "/readyz": return readable ? .ready : .methodNotAllowed(allow: "GET, HEAD")
        case "/metrics": return readable ? .metrics : .methodNotAllowed(allow: "GET, HEAD")
        default:
            let prefix = "/v1/runs/"
            if path.hasPrefix(prefix) {
                let id = String(path.dropFirst(prefix.count))
                if !id.isEmpty && !id.contains("/") {
                    return method == "DELETE" ? .cancel(runID: id) : .methodNotAllowed(allow: "DELETE")
                }
            }
            return .notFound
        }
    }
}

/// Per-request state, owned by libmicrohttpd's `con_cls` from the first handler call until the
/// completion callback. Only the connection's own thread touches it.
final class RequestContext {
    let route: Route
    let method: String
    let path: String
    var body: [UInt8] = []
    var received = 0
    var tooLarge = false
    /// A response was queued already (early refusal); later calls only drain the body.
    var answered = false
    var stream: RunStream?

    init(route: Route, method: String, path: String) {
        self.route = route
        self.method = method
        self.path = path
    }
}

/// A flag the connection threads poll while blocked.
final class StopFlag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set(_ v: Bool) { value.store(v, ordering: .releasing) }
}

/// Everything the C callbacks reach through their `cls` pointer.
final class ServerCore: Sendable {
    let auth: BearerAuth
    let tokenMissing: Bool
    let dispatcher: any RunDispatcher
    let metrics: PoolMetrics
    let logger: Logger
    let maxBodyBytes: Int
    let progressInterval: Duration
    let podName: String
    let maxConnections: Int
    let draining = Atomic<Bool>(false)
    let stopping = StopFlag()

    /// How far past the limit a chunked upload (no Content-Length) is read and discarded so a 413
    /// can still be answered; beyond it the connection is simply closed.
    var discardAllowance: Int { max(64 * 1024, min(maxBodyBytes, 1 << 20)) }

    /// How long `/v1/status`, `/metrics` and `DELETE` wait for the dispatcher.
    static let dispatcherTimeout: Duration = .seconds(10)

    init(
        auth: BearerAuth, tokenMissing: Bool, dispatcher: any RunDispatcher, metrics: PoolMetrics, logger: Logger,
        maxBodyBytes: Int, progressInterval: Duration, podName: String, maxConnections: Int
    ) {
        self.auth = auth
        self.tokenMissing = tokenMissing
        self.dispatcher = dispatcher
        self.metrics = metrics
        self.logger = logger
        self.maxBodyBytes = maxBodyBytes
        self.progressInterval = progressInterval
        self.podName = podName
        self.maxConnections = maxConnections
    }

    // MARK: - The access handler

    func handle(
        connection: OpaquePointer, url: String, method: String, uploadData: UnsafePointer<CChar>?,
        uploadDataSize: UnsafeMutablePointer<Int>, conCls: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    ) -> MHD_Result {
        guard let raw = conCls.pointee else {
            let context = RequestContext(route: Route.of(method: method, path: url), method: method, path: url)
            conCls.pointee = Unmanaged.passRetained(context).toOpaque()
            return headersArrived(context, connection)
        }
        let context = Unmanaged<RequestContext>.fromOpaque(raw).takeUnretainedValue()
        let size = uploadDataSize.pointee
        if size > 0 {
            uploadDataSize.pointee = 0
            if context.answered { return MHD_Result.YES }
            context.received += size
            if context.received > maxBodyBytes {
                if !context.tooLarge {
                    context.tooLarge = true
                    context.body = []
                }
                // Counting past the limit: stop reading once well beyond it.
                return context.received - maxBodyBytes > discardAllowance ? MHD_Result.NO : MHD_Result.YES
            }
            if context.route == .submit, let uploadData {
                uploadData.withMemoryRebound(to: UInt8.self, capacity: size) {
                    context.body.append(contentsOf: UnsafeBufferPointer(start: $0, count: size))
                }
            }
            return MHD_Result.YES
        }
        if context.answered { return MHD_Result.YES }
        return requestComplete(context, connection)
    }

    /// First call, headers only: refuse early what must not have its body read.
    private func headersArrived(_ context: RequestContext, _ connection: OpaquePointer) -> MHD_Result {
        if context.route.needsAuth {
            let header = sa_mhd_lookup_connection_value(connection, MHD_ValueKind.HEADER_KIND, "Authorization").map { String(cString: $0) }
            if !auth.allows(header) {
                context.answered = true
                logger.warning(
                    "refused a request without a valid pool token",
                    ["method": .string(context.method), "path": .string(context.path), "had_authorization": .bool(header != nil)])
                return respondJSON(
                    connection, 401,
                    ["status": "UNAUTHORIZED", "message": "a valid pool token is required (Authorization: Bearer <token>)"],
                    headers: [("WWW-Authenticate", "Bearer")])
            }
        }
        if let declared = sa_mhd_lookup_connection_value(connection, MHD_ValueKind.HEADER_KIND, "Content-Length") {
            let text = String(cString: declared)
            // A malformed length is libmicrohttpd's to refuse; an all-digit one past the limit is ours.
            let digits = !text.isEmpty && text.utf8.allSatisfy { (0x30...0x39).contains($0) }
            if digits && (UInt64(text).map { $0 > UInt64(maxBodyBytes) } ?? true) {
                context.answered = true
                return tooLarge(context, connection)
            }
        }
        return MHD_Result.YES
    }

    /// Last call: the whole request is in.
    private func requestComplete(_ context: RequestContext, _ connection: OpaquePointer) -> MHD_Result {
        context.answered = true
        if context.tooLarge { return tooLarge(context, connection) }
        switch context.route {
        case .submit: return submit(context, connection)
        case .cancel(let runID): return cancel(runID, connection)
        case .status: return status(connection)
        case .health: return respondJSON(connection, 200, ["ok": true, "pod": .string(podName)])
        case .ready:
            if isDraining { return respondJSON(connection, 503, ["ready": false, "status": "POOL_DRAINING", "pod": .string(podName)]) }
            // Still ready when the shared registry is degraded (local slots keep serving); the detail says so.
            var body: JSONObject = ["ready": true, "pod": .string(podName)]
            if let registry = currentStatus()?.registry {
                body["registry"] = .string(registry.mode.rawValue)
                body["detail"] = .string(registry.detail)
            }
            return respondJSON(connection, 200, .object(body))
        case .metrics: return metricsText(connection)
        case .notFound:
            return respondJSON(
                connection, 404, ["status": "NOT_FOUND", "message": .string("no route for \(context.method) \(context.path)")])
        case .methodNotAllowed(let allow):
            return respondJSON(
                connection, 405,
                ["status": "METHOD_NOT_ALLOWED", "message": .string("\(context.path) allows \(allow), not \(context.method)")],
                headers: [("Allow", allow)])
        }
    }

    var isDraining: Bool { draining.load(ordering: .acquiring) }

    private func tooLarge(_ context: RequestContext, _ connection: OpaquePointer) -> MHD_Result {
        if context.route == .submit { metrics.record(.rejected, durationMs: 0) }
        return respondJSON(
            connection, 413,
            [
                "status": "REJECTED", "field": "body",
                "message": .string("the request body is larger than the pool's limit of \(maxBodyBytes) bytes"),
            ])
    }

    // MARK: - POST /v1/runs

    private func submit(_ context: RequestContext, _ connection: OpaquePointer) -> MHD_Result {
        let json: JSON
        do {
            json = try JSON.parse(context.body)
        } catch {
            metrics.record(.rejected, durationMs: 0)
            return respondJSON(
                connection, 400, ["status": "REJECTED", "field": "body", "message": .string("the body is not valid JSON: \(error)")])
        }
        context.body = []
        let request: RunRequest
        do {
            request = try RunRequest(json: json)
        } catch {
            metrics.record(.rejected, durationMs: 0)
            return respondJSON(
                connection, 400, ["status": "REJECTED", "field": .string(error.field), "message": .string(error.description)])
        }
        if isDraining {
            metrics.record(.poolDraining, durationMs: 0)
            let refused = RunResult.refused(
                .poolDraining, request, message: "pod \(podName) is draining and takes no new runs; send it to another pod",
                pod: podName)
            return respondJSON(connection, 503, refused.json)
        }

        let stream = RunStream(
            runID: request.runID, fd: sa_mhd_connection_fd(connection), progressInterval: progressInterval, stopping: stopping)
        context.stream = stream
        logger.info(
            "run received",
            [
                "run_id": .string(request.runID), "task": .string(request.task), "adapter": .string(request.adapter),
                "caller_agent": JSON(request.callerAgent),
            ])
        let dispatcher = self.dispatcher
        let logger = self.logger
        let task = Task {
            let result = await dispatcher.submit(request, events: { stream.push($0) })
            stream.finish(result)
            logger.info(
                "run answered",
                ["run_id": .string(result.runID), "status": .string(result.status.rawValue), "duration_ms": JSON(result.durationMs)])
        }
        stream.attach(task)

        switch stream.waitForFirst() {
        case .failure(let interrupt):
            stream.abort()
            logger.info(
                "client left before the run was accepted; cancelled it",
                ["run_id": .string(request.runID), "reason": .string(interrupt.reason == .stopping ? "server stopping" : "client closed")])
            return MHD_Result.NO
        case .success(.event):
            return respondStream(connection, stream)
        case .success(.result(var result)):
            switch result.status {
            case .poolBusy:
                let retryMs = max(1, result.retryAfterMs ?? 1000)
                result.retryAfterMs = retryMs
                let seconds = (retryMs + 999) / 1000
                return respondJSON(connection, 429, result.json, headers: [("Retry-After", String(seconds))])
            case .poolDraining:
                return respondJSON(connection, 503, result.json)
            case .rejected:
                return respondJSON(connection, 400, result.json)
            default:
                stream.queueResultOnly()
                return respondStream(connection, stream)
            }
        }
    }

    private func respondStream(_ connection: OpaquePointer, _ stream: RunStream) -> MHD_Result {
        let cls = Unmanaged.passRetained(stream).toOpaque()
        guard
            let response = sa_mhd_create_response_from_callback(
                UInt64.max, 16 * 1024,
                { cls, _, buffer, max in
                    guard let cls, let buffer else { return -2 }
                    return Unmanaged<RunStream>.fromOpaque(cls).takeUnretainedValue().read(into: buffer, max: max)
                }, cls, { cls in if let cls { Unmanaged<RunStream>.fromOpaque(cls).release() } })
        else {
            Unmanaged<RunStream>.fromOpaque(cls).release()
            stream.abort()
            return MHD_Result.NO
        }
        defer { sa_mhd_destroy_response(response) }
        sa_mhd_add_response_header(response, "Content-Type", "application/x-ndjson")
        sa_mhd_add_response_header(response, "Cache-Control", "no-store")
        sa_mhd_add_response_header(response, "X-Content-Type-Options", "nosniff")
        return sa_mhd_queue_response(connection, 200, response)
    }

    // MARK: - Other routes

    private func cancel(_ runID: String, _ connection: OpaquePointer) -> MHD_Result {
        let dispatcher = self.dispatcher
        guard let cancelled = runBlocking(timeout: Self.dispatcherTimeout, giveUp: { self.stopping.isSet }, { await dispatcher.cancel(runID: runID) })
        else { return unavailable(connection) }
        logger.info("cancel requested", ["run_id": .string(runID), "found": .bool(cancelled)])
        if cancelled { return respondJSON(connection, 200, ["cancelled": true, "run_id": .string(runID)]) }
        return respondJSON(
            connection, 404,
            ["cancelled": false, "run_id": .string(runID), "status": "NOT_FOUND", "message": .string("no run \(runID) on pod \(podName)")])
    }

    private func currentStatus() -> PoolStatus? {
        let dispatcher = self.dispatcher
        guard var status = runBlocking(timeout: Self.dispatcherTimeout, giveUp: { self.stopping.isSet }, { await dispatcher.status() })
        else { return nil }
        status.draining = status.draining || isDraining
        return status
    }

    private func status(_ connection: OpaquePointer) -> MHD_Result {
        guard let status = currentStatus() else { return unavailable(connection) }
        return respondJSON(connection, 200, status.json)
    }

    private func metricsText(_ connection: OpaquePointer) -> MHD_Result {
        guard let status = currentStatus() else { return unavailable(connection) }
        var extra: [String] = []
        if let registry = status.registry {
            extra += [
                "# HELP super_agent_registry_degraded 1 while the shared slot registry (Redis) is unreachable and only local slots serve.",
                "# TYPE super_agent_registry_degraded gauge",
                "super_agent_registry_degraded \(registry.mode == .degraded ? 1 : 0)",
                "# HELP super_agent_registry_live_pods Pool pods with a live registration in the shared registry.",
                "# TYPE super_agent_registry_live_pods gauge",
                "super_agent_registry_live_pods \(registry.livePods)",
            ]
        }
        let text = metrics.prometheusText(slots: status.slots, busySlots: status.busy, draining: status.draining, extra: extra)
        return respond(connection, 200, body: Array(text.utf8), contentType: "text/plain; version=0.0.4; charset=utf-8")
    }

    private func unavailable(_ connection: OpaquePointer) -> MHD_Result {
        respondJSON(connection, 503, ["status": "UNAVAILABLE", "message": "the pool did not answer in time"])
    }

    // MARK: - Completion

    func completed(_ context: RequestContext, termination: MHD_RequestTerminationCode) {
        guard let stream = context.stream, stream.abort() else { return }
        let reason: String =
            switch termination {
            case .REQUEST_TERMINATED_CLIENT_ABORT: "client aborted"
            case .REQUEST_TERMINATED_DAEMON_SHUTDOWN: "server stopping"
            case .REQUEST_TERMINATED_TIMEOUT_REACHED: "connection timed out"
            case .REQUEST_TERMINATED_READ_ERROR: "read error"
            default: "connection closed"
            }
        logger.info("run stream ended before the result; cancelled the run", ["run_id": .string(stream.runID), "reason": .string(reason)])
    }

    // MARK: - Responses

    private func respondJSON(
        _ connection: OpaquePointer, _ status: UInt32, _ json: JSON, headers: [(String, String)] = []
    ) -> MHD_Result {
        var body = Array(json.text.utf8)
        body.append(0x0A)
        return respond(connection, status, body: body, contentType: "application/json", headers: headers)
    }

    private func respond(
        _ connection: OpaquePointer, _ status: UInt32, body: [UInt8], contentType: String, headers: [(String, String)] = []
    ) -> MHD_Result {
        let response = body.withUnsafeBytes { raw in
            sa_mhd_create_response_from_buffer(raw.count, UnsafeMutableRawPointer(mutating: raw.baseAddress), MHD_ResponseMemoryMode.RESPMEM_MUST_COPY)
        }
        guard let response else { return MHD_Result.NO }
        defer { sa_mhd_destroy_response(response) }
        sa_mhd_add_response_header(response, "Content-Type", contentType)
        sa_mhd_add_response_header(response, "Cache-Control", "no-store")
        for (name, value) in headers { sa_mhd_add_response_header(response, name, value) }
        return sa_mhd_queue_response(connection, status, response)
    }
}
