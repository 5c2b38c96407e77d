import CCurl
import JSON
import Log
import Runs
import Synchronization

/// Why `fetchStatus()` got no status.
public struct PoolHTTPClientError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The HTTP status, 0 when the pool never answered.
    public let httpStatus: Int
    public let message: String
    public var description: String { message }
}

/// A remote pool reached over HTTP: the `RunDispatcher` the MCP tool and `super-agent run` use
/// when runs go to a pool pod (`PoolHTTPServer`).
///
/// Every transfer runs on a libcurl handle on a thread of its own, never on Swift's cooperative
/// pool. Cancelling the task that called `submit` aborts the transfer at once and closes the
/// connection, which makes the server cancel the run; `submit` then returns CANCELLED.
public final class PoolHTTPClient: RunDispatcher {
    /// The pool's base URL, without a trailing slash (`http://pool-0.pool:8787`).
    public let baseURL: String
    public let connectTimeout: Duration
    /// A stream with no byte for this long (the server sends progress every few seconds) is
    /// treated as a dead pool.
    public let idleTimeout: Duration
    /// Limit for the short requests (`cancel`, `status`).
    public let requestTimeout: Duration
    private let token: String?
    private let logger: Logger

    /// The largest single NDJSON line accepted (a result carries the agent's whole output).
    static let maxLineBytes = 64 << 20
    /// The most of a non-stream (error) body kept.
    static let maxErrorBodyBytes = 1 << 20

    public init(
        baseURL: String, token: String?, connectTimeout: Duration = .seconds(3), idleTimeout: Duration = .seconds(120),
        requestTimeout: Duration = .seconds(10), logger: Logger = .discard
    ) {
        var base = baseURL
        while base.hasSuffix("/") { base.removeLast() }
        self.baseURL = base
        self.token = (token?.isEmpty ?? true) ? nil : token
        self.connectTimeout = connectTimeout
        self.idleTimeout = idleTimeout
        self.requestTimeout = requestTimeout
        self.logger = logger
        _ = CurlGlobal.initialized
    }

    private func headers(accept: String, json: Bool) -> [String] {
        var h = ["Accept: \(accept)"]
        if json { h.append("Content-Type: application/json") }
        if let token { h.append("Authorization: Bearer \(token)") }
        return h
    }

    // MARK: - submit

    public func submit(_ request: RunRequest, events: @escaping @Sendable (RunEvent) -> Void) async -> RunResult {
        let reader = StreamReader(events: events)
        var body = Array(request.json.text.utf8)
        body.append(0x0A)
        let outcome = await CurlTransfer.perform(
            .init(
                url: baseURL + "/v1/runs", method: "POST", headers: headers(accept: "application/x-ndjson", json: true),
                body: body, connectTimeout: connectTimeout, totalTimeout: nil, idleTimeout: idleTimeout),
            onData: { bytes, status in reader.feed(bytes, httpStatus: status) })
        let result = interpret(outcome, reader: reader, request: request)
        if result.status == .poolUnreachable || (result.status == .failed && outcome.httpStatus == 401) {
            logger.warning(
                "pool request failed",
                ["run_id": .string(request.runID), "status": .string(result.status.rawValue), "message": .string(result.message)])
        }
        return result
    }

    private func interpret(_ outcome: TransferOutcome, reader: StreamReader, request: RunRequest) -> RunResult {
        func fill(_ r: RunResult) -> RunResult {
            var r = r
            if r.runID.isEmpty { r.runID = request.runID }
            if r.task.isEmpty { r.task = request.task }
            if r.adapter.isEmpty { r.adapter = request.adapter }
            return r
        }
        func refused(_ status: RunStatus, _ message: String, retryAfterMs: Int? = nil) -> RunResult {
            RunResult.refused(status, request, message: message, retryAfterMs: retryAfterMs)
        }
        let state = reader.snapshot()
        if let result = state.result { return fill(result) }
        if outcome.cancelled {
            return refused(.cancelled, "cancelled by the caller; the connection to the pool was closed, which cancels the run there")
        }
        let bodyJSON = try? JSON.parse(state.errorBody)
        let bodyMessage = bodyJSON?["message"]?.stringValue
        switch outcome.httpStatus {
        case 0:
            return refused(.poolUnreachable, "cannot reach the pool at \(baseURL): \(outcome.errorText)")
        case 200:
            var message = "the pool closed the stream before the result"
            if !outcome.errorText.isEmpty { message += " (\(outcome.errorText))" }
            if state.badLine { message += "; it sent a line that is not a run event" }
            return refused(.failed, message)
        case 429:
            var retry = bodyJSON?["retry_after_ms"]?.exactInteger.map { Int($0) }
            if retry == nil, let header = outcome.header("Retry-After"), let seconds = Int(header) { retry = seconds * 1000 }
            if let bodyJSON, bodyJSON["status"]?.stringValue == RunStatus.poolBusy.rawValue {
                var r = fill(RunResult(json: bodyJSON, fallbackRunID: request.runID, fallbackTask: request.task, fallbackAdapter: request.adapter))
                r.retryAfterMs = retry
                return r
            }
            return refused(.poolBusy, bodyMessage ?? "every slot of the pool is busy; retry later", retryAfterMs: retry)
        case 503:
            if let bodyJSON, bodyJSON["status"]?.stringValue == RunStatus.poolDraining.rawValue, bodyJSON["run_id"] != nil {
                return fill(RunResult(json: bodyJSON, fallbackRunID: request.runID, fallbackTask: request.task, fallbackAdapter: request.adapter))
            }
            return refused(.poolDraining, bodyMessage ?? "the pool is draining and takes no new runs")
        case 400, 413:
            var message = bodyMessage ?? "the pool refused the request (HTTP \(outcome.httpStatus))"
            if let field = bodyJSON?["field"]?.stringValue, !message.hasPrefix(field) { message = "\(field): \(message)" }
            var r = refused(.rejected, message)
            if let details = bodyJSON?["details"]?.objectValue { r.details = details }
            if let field = bodyJSON?["field"]?.stringValue { r.details["field"] = .string(field) }
            return r
        case 401:
            return refused(
                .failed,
                "the pool at \(baseURL) refused the pool token (HTTP 401); check SUPER_AGENT_POOL_TOKEN matches the pool's")
        default:
            let excerpt = String(decoding: state.errorBody.prefix(300), as: UTF8.self)
            return refused(
                .failed, "the pool answered HTTP \(outcome.httpStatus)" + (bodyMessage.map { ": \($0)" } ?? (excerpt.isEmpty ? "" : ": \(excerpt)")))
        }
    }

    // MARK: - cancel and status

    /// `DELETE /v1/runs/{id}`: true when the pool knew the run and cancelled it; false when it did
    /// not know it or could not be asked.
    public func cancel(runID: String) async -> Bool {
        let body = Collected()
        let outcome = await CurlTransfer.perform(
            .init(
                url: baseURL + "/v1/runs/" + Self.percentEncoded(runID), method: "DELETE",
                headers: headers(accept: "application/json", json: false), body: nil, connectTimeout: connectTimeout,
                totalTimeout: requestTimeout),
            onData: { bytes, _ in body.append(bytes) })
        guard outcome.httpStatus == 200, outcome.code == CURLE_OK else {
            if outcome.httpStatus != 404 {
                logger.warning(
                    "pool cancel failed",
                    ["run_id": .string(runID), "http_status": JSON(outcome.httpStatus), "error": .string(outcome.errorText)])
            }
            return false
        }
        return (try? JSON.parse(body.bytes))?["cancelled"]?.boolValue ?? false
    }

    /// `GET /v1/status`. Never fails: when the pool cannot be asked, this is a status with 0 slots
    /// (`pod` is the base URL), which callers read as "no capacity there". Use `fetchStatus()` for
    /// the reason.
    public func status() async -> PoolStatus {
        do {
            return try await fetchStatus()
        } catch {
            logger.warning("pool status failed", ["pool": .string(baseURL), "error": .string(error.message)])
            return PoolStatus(pod: baseURL, slots: 0, busy: 0, draining: false, runs: [])
        }
    }

    /// `GET /v1/status`, throwing why when the pool cannot be asked or refuses.
    public func fetchStatus() async throws(PoolHTTPClientError) -> PoolStatus {
        let body = Collected()
        let outcome = await CurlTransfer.perform(
            .init(
                url: baseURL + "/v1/status", method: "GET", headers: headers(accept: "application/json", json: false),
                body: nil, connectTimeout: connectTimeout, totalTimeout: requestTimeout),
            onData: { bytes, _ in body.append(bytes) })
        if outcome.cancelled { throw PoolHTTPClientError(httpStatus: 0, message: "cancelled") }
        guard outcome.httpStatus != 0 else {
            throw PoolHTTPClientError(httpStatus: 0, message: "cannot reach the pool at \(baseURL): \(outcome.errorText)")
        }
        if outcome.httpStatus == 401 {
            throw PoolHTTPClientError(
                httpStatus: 401, message: "the pool at \(baseURL) refused the pool token; check SUPER_AGENT_POOL_TOKEN")
        }
        guard outcome.httpStatus == 200, outcome.code == CURLE_OK, let json = try? JSON.parse(body.bytes),
            let status = PoolStatus(json: json)
        else {
            throw PoolHTTPClientError(
                httpStatus: outcome.httpStatus,
                message: "the pool at \(baseURL) answered HTTP \(outcome.httpStatus) without a status\(outcome.errorText.isEmpty ? "" : ": \(outcome.errorText)")")
        }
        return status
    }

    static func percentEncoded(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            switch b {
            case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x2D, 0x2E, 0x5F, 0x7E: out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                let hex = Array("0123456789ABCDEF".utf8)
                out += "%" + String(decoding: [hex[Int(b >> 4)], hex[Int(b & 0xF)]], as: UTF8.self)
            }
        }
        return out
    }
}

/// A body collected whole (short answers); written by the transfer thread, read after it ends.
private final class Collected: Sendable {
    private let data = Mutex<[UInt8]>([])
    func append(_ bytes: UnsafeRawBufferPointer) -> Bool {
        data.withLock { d in
            guard d.count + bytes.count <= PoolHTTPClient.maxErrorBodyBytes else { return false }
            d.append(contentsOf: bytes)
            return true
        }
    }
    var bytes: [UInt8] { data.withLock { $0 } }
}

/// Splits a `200` NDJSON body into events as it arrives; keeps other bodies whole (bounded).
private final class StreamReader: Sendable {
    struct State {
        var partial: [UInt8] = []
        var result: RunResult?
        var errorBody: [UInt8] = []
        var badLine = false
    }

    private let state = Mutex(State())
    private let events: @Sendable (RunEvent) -> Void

    init(events: @escaping @Sendable (RunEvent) -> Void) { self.events = events }

    func snapshot() -> State { state.withLock { $0 } }

    /// Returns false to abort the transfer (a body past the limits).
    func feed(_ bytes: UnsafeRawBufferPointer, httpStatus: Int) -> Bool {
        guard httpStatus == 200 else {
            return state.withLock { s in
                guard s.errorBody.count + bytes.count <= PoolHTTPClient.maxErrorBodyBytes else { return false }
                s.errorBody.append(contentsOf: bytes)
                return true
            }
        }
        // Parse under the lock, deliver events outside it.
        var ready: [RunEvent] = []
        let ok = state.withLock { s -> Bool in
            var start = 0
            for (i, b) in bytes.enumerated() where b == 0x0A {
                s.partial.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start..<i]))
                start = i + 1
                let line = s.partial
                s.partial.removeAll(keepingCapacity: true)
                guard line.contains(where: { $0 != 0x20 && $0 != 0x0D && $0 != 0x09 }) else { continue }
                guard let json = try? JSON.parse(line), let event = RunEvent(json: json) else {
                    s.badLine = true
                    continue
                }
                switch event {
                case .result(let r): s.result = r
                default: if s.result == nil { ready.append(event) }
                }
            }
            s.partial.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start...]))
            return s.partial.count <= PoolHTTPClient.maxLineBytes
        }
        for e in ready { events(e) }
        return ok
    }
}
