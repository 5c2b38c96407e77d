import JSON

/// How a run ended, or why it never started. The wire spelling is the raw value.
public enum RunStatus: String, Sendable, CaseIterable {
    case ok = "OK"
    case failed = "FAILED"
    case timeout = "TIMEOUT"
    case cancelled = "CANCELLED"
    case rejected = "REJECTED"
    case poolBusy = "POOL_BUSY"
    case poolDraining = "POOL_DRAINING"
    case poolUnreachable = "POOL_UNREACHABLE"
    /// The caller's daily or monthly budget is spent and its policy refuses further runs.
    case budgetExceeded = "BUDGET_EXCEEDED"
    /// Only for a handle (`wait: false`) whose run has not finished.
    case running = "RUNNING"

    /// OK and POOL_BUSY (flow control) are not errors for the caller; everything else is.
    public var isError: Bool { !(self == .ok || self == .poolBusy || self == .running) }
}

/// Token counts an adapter reported; any of them may be unknown.
public struct RunUsage: Sendable, Equatable {
    public var inputTokens: Int?
    public var outputTokens: Int?
    public var cacheReadTokens: Int?
    public var cacheWriteTokens: Int?

    public init(inputTokens: Int? = nil, outputTokens: Int? = nil, cacheReadTokens: Int? = nil, cacheWriteTokens: Int? = nil) {
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.cacheReadTokens = cacheReadTokens
        self.cacheWriteTokens = cacheWriteTokens
    }

    public var isEmpty: Bool { inputTokens == nil && outputTokens == nil && cacheReadTokens == nil && cacheWriteTokens == nil }

    public var json: JSON {
        var o = JSONObject()
        if let inputTokens { o["input_tokens"] = JSON(inputTokens) }
        if let outputTokens { o["output_tokens"] = JSON(outputTokens) }
        if let cacheReadTokens { o["cache_read_tokens"] = JSON(cacheReadTokens) }
        if let cacheWriteTokens { o["cache_write_tokens"] = JSON(cacheWriteTokens) }
        return .object(o)
    }

    public init(json: JSON) {
        func int(_ k: String) -> Int? { json[k]?.exactInteger.map { Int($0) } }
        self.init(
            inputTokens: int("input_tokens"), outputTokens: int("output_tokens"), cacheReadTokens: int("cache_read_tokens"),
            cacheWriteTokens: int("cache_write_tokens"))
    }
}

/// The one answer every run gets, whatever happened. This is `super_agent_run`'s structuredContent.
public struct RunResult: Sendable, Equatable {
    public var status: RunStatus
    public var runID: String
    public var task: String
    public var adapter: String
    public var model: String?
    public var pod: String?
    public var exitCode: Int?
    /// What the agent answered (or the captured output for `command`); empty when nothing ran.
    public var output: String
    public var durationMs: Int
    public var usage: RunUsage?
    public var costUSD: Double?
    public var retryAfterMs: Int?
    /// A sentence a person (or agent) can act on: why it failed, what was substituted.
    public var message: String
    /// How the run's writes were confined: `landlock`, `bubblewrap` or `none`.
    public var confinement: String?
    /// Extra facts from the adapter (session id, turns, stderr tail, fallback used), free-form.
    public var details: JSONObject
    /// The cost tier the routing chose (`cheap`, `standard`, `frontier`), when it chose one.
    public var tier: String?
    /// Which routing rule chose the model: `hint`, `task:<pattern>`, `default`, `budget-downgrade`.
    public var rule: String?

    public init(
        status: RunStatus, runID: String, task: String, adapter: String, model: String? = nil, pod: String? = nil,
        exitCode: Int? = nil, output: String = "", durationMs: Int = 0, usage: RunUsage? = nil, costUSD: Double? = nil,
        retryAfterMs: Int? = nil, message: String = "", confinement: String? = nil, details: JSONObject = [:]
    ) {
        self.status = status
        self.runID = runID
        self.task = task
        self.adapter = adapter
        self.model = model
        self.pod = pod
        self.exitCode = exitCode
        self.output = output
        self.durationMs = durationMs
        self.usage = usage
        self.costUSD = costUSD
        self.retryAfterMs = retryAfterMs
        self.message = message
        self.confinement = confinement
        self.details = details
    }

    /// A result for a request that never ran (busy, draining, rejected, unreachable).
    public static func refused(_ status: RunStatus, _ request: RunRequest, message: String, pod: String? = nil, retryAfterMs: Int? = nil) -> RunResult {
        RunResult(
            status: status, runID: request.runID, task: request.task, adapter: request.adapter, model: request.model,
            pod: pod, retryAfterMs: retryAfterMs, message: message)
    }

    /// Whether a launcher started the run's process. Only such runs carry a `confinement`; runs
    /// refused or failed before that (busy, rejected, program missing) cost nothing and take no time.
    public var started: Bool { confinement != nil }

    /// Every field is present (null when unknown), so clients can rely on the shape.
    public var json: JSON {
        var o: JSONObject = [
            "status": .string(status.rawValue), "run_id": .string(runID), "task": .string(task),
            "adapter": .string(adapter), "model": JSON(model), "pod": JSON(pod), "exit_code": JSON(exitCode),
            "output": .string(output), "duration_ms": JSON(durationMs), "usage": usage?.json ?? .null,
            "cost_usd": JSON(costUSD), "retry_after_ms": JSON(retryAfterMs), "message": .string(message),
            "confinement": JSON(confinement), "tier": JSON(tier), "rule": JSON(rule),
        ]
        if !details.isEmpty { o["details"] = .object(details) }
        return .object(o)
    }

    /// Reads the wire form; a body that is not a result becomes a FAILED result saying so.
    public init(json: JSON, fallbackRunID: String = "", fallbackTask: String = "", fallbackAdapter: String = "") {
        guard let statusText = json["status"]?.stringValue, let status = RunStatus(rawValue: statusText) else {
            self.init(
                status: .failed, runID: fallbackRunID, task: fallbackTask, adapter: fallbackAdapter,
                message: "the pool answered with something that is not a run result: \(json.text.prefix(200))")
            return
        }
        self.init(
            status: status, runID: json["run_id"]?.stringValue ?? fallbackRunID, task: json["task"]?.stringValue ?? fallbackTask,
            adapter: json["adapter"]?.stringValue ?? fallbackAdapter, model: json["model"]?.stringValue,
            pod: json["pod"]?.stringValue, exitCode: json["exit_code"]?.exactInteger.map { Int($0) },
            output: json["output"]?.stringValue ?? "", durationMs: Int(json["duration_ms"]?.exactInteger ?? 0),
            usage: json["usage"].flatMap { $0.isNull ? nil : RunUsage(json: $0) }, costUSD: json["cost_usd"]?.numberValue,
            retryAfterMs: json["retry_after_ms"]?.exactInteger.map { Int($0) }, message: json["message"]?.stringValue ?? "",
            confinement: json["confinement"]?.stringValue, details: json["details"]?.objectValue ?? [:])
        tier = json["tier"]?.stringValue
        rule = json["rule"]?.stringValue
    }
}

/// What the pool streams for one run (`application/x-ndjson`, one event per line).
public enum RunEvent: Sendable, Equatable {
    case accepted(runID: String, pod: String)
    case progress(runID: String, elapsedMs: Int)
    case result(RunResult)

    public var json: JSON {
        switch self {
        case .accepted(let id, let pod): ["event": "accepted", "run_id": .string(id), "pod": .string(pod)]
        case .progress(let id, let ms): ["event": "progress", "run_id": .string(id), "elapsed_ms": JSON(ms)]
        case .result(let r): ["event": "result", "result": r.json]
        }
    }

    public init?(json: JSON) {
        switch json["event"]?.stringValue {
        case "accepted":
            guard let id = json["run_id"]?.stringValue, let pod = json["pod"]?.stringValue else { return nil }
            self = .accepted(runID: id, pod: pod)
        case "progress":
            guard let id = json["run_id"]?.stringValue, let ms = json["elapsed_ms"]?.exactInteger else { return nil }
            self = .progress(runID: id, elapsedMs: Int(ms))
        case "result":
            guard let r = json["result"] else { return nil }
            self = .result(RunResult(json: r))
        default: return nil
        }
    }
}
