import JSON
import MCP
import Runs

/// The pool tools: `super_agent_run` and the handle tools for long runs
/// (`super_agent_status`, `super_agent_result`, `super_agent_cancel`).
public struct RunTools: Sendable {
    /// Where runs go: the remote pool (with the configured fallback) or the embedded one.
    let dispatcher: any RunDispatcher
    /// The remote pool backed by the embedded one, for a per-call `fallback: "inline"`.
    let inlineFallback: (any RunDispatcher)?
    let remote: Bool
    let handles: RunHandles
    let adapters: [String]
    let callerAgent: String?
    let progressInterval: Duration
    let retry: BusyRetry

    public init(
        dispatcher: any RunDispatcher, inlineFallback: (any RunDispatcher)?, remote: Bool, adapters: [String], callerAgent: String?,
        progressInterval: Duration = .seconds(2), handles: RunHandles = RunHandles(), retry: BusyRetry = BusyRetry()
    ) {
        self.dispatcher = dispatcher
        self.inlineFallback = inlineFallback
        self.remote = remote
        self.adapters = adapters
        self.callerAgent = callerAgent
        self.progressInterval = progressInterval
        self.handles = handles
        self.retry = retry
    }

    public var all: [Tool] { [run, status, result, cancel] }

    // MARK: - Schemas

    static let statusValues: [JSON] = RunStatus.allCases.map { .string($0.rawValue) }

    /// The shape of every run answer (also the handle tools' answers, where only status and run_id
    /// are sure to be present while the run is going).
    static let resultSchema: JSON = [
        "type": "object",
        "properties": [
            "status": ["type": "string", "enum": .array(statusValues)],
            "run_id": ["type": "string"],
            "task": ["type": ["string", "null"]],
            "adapter": ["type": ["string", "null"]],
            "model": ["type": ["string", "null"]],
            "pod": ["type": ["string", "null"]],
            "exit_code": ["type": ["integer", "null"]],
            "output": ["type": ["string", "null"]],
            "duration_ms": ["type": ["integer", "null"]],
            "usage": ["type": ["object", "null"]],
            "cost_usd": ["type": ["number", "null"]],
            "retry_after_ms": ["type": ["integer", "null"]],
            "message": ["type": ["string", "null"]],
            "confinement": ["type": ["string", "null"]],
            "tier": ["type": ["string", "null"]],
            "rule": ["type": ["string", "null"]],
            "details": ["type": "object"],
            "elapsed_ms": ["type": "integer"],
            "cancelled": ["type": "boolean"],
        ],
        "required": ["status", "run_id"],
        "additionalProperties": false,
    ]

    static let runIDProperty: JSON = [
        "type": "string", "minLength": 1, "maxLength": 128, "description": "The run_id that super_agent_run returned.",
    ]

    var runInput: JSON {
        [
            "type": "object",
            "properties": [
                "task": [
                    "type": "string", "minLength": 1, "maxLength": 200,
                    "description": "A short label for the work, e.g. summarize-doc, log-triage, config-check.",
                ],
                "prompt_text": ["type": "string", "minLength": 1, "description": "The prompt. Give this or prompt_file, not both."],
                "prompt_file": [
                    "type": "string", "minLength": 1, "maxLength": 4096,
                    "description": "A file holding the prompt: inside caller_cwd (cwd_mode caller) or inside a workspace root (isolated).",
                ],
                "adapter": [
                    "type": "string", "enum": JSON([AccountingDispatcher.autoAdapter] + adapters), "default": "auto",
                    "description": "Which agent CLI runs the task. auto (the default) lets the routing policy pick by task label: cheap models for summarize*, log-*, extract*, config-check*.",
                ],
                "cwd_mode": [
                    "type": "string", "enum": ["isolated", "caller"], "default": "isolated",
                    "description": "isolated: a fresh private directory, deleted after. caller: run inside caller_cwd (it may change files there).",
                ],
                "caller_cwd": [
                    "type": "string", "minLength": 1, "maxLength": 4096,
                    "description": "Your working directory, an absolute path inside a workspace root. Required for cwd_mode caller.",
                ],
                "model_hint": [
                    "type": "string", "maxLength": 200,
                    "description": "A model to use when the adapter allows it (otherwise its default, and the result says so). Omit or auto: routing picks by task; a budget may still downgrade.",
                ],
                "timeout_s": ["type": "integer", "minimum": 1, "maximum": 86400, "description": "Stop the run after this many seconds (default 600, capped by the pool)."],
                "wait_s": [
                    "type": "number", "minimum": 0, "maximum": 3600, "default": 0,
                    "description": "How long to keep trying while the pool is busy (exponential backoff with jitter). 0 answers POOL_BUSY at once.",
                ],
                "wait": [
                    "type": "boolean", "default": true,
                    "description": "false returns {status: RUNNING, run_id} at once; then use super_agent_status, super_agent_result and super_agent_cancel.",
                ],
                "fallback": [
                    "type": "string", "enum": ["none", "inline"],
                    "description": "inline: if the pool is unreachable, run in this process's embedded pool instead (the result says so).",
                ],
            ],
            "required": ["task"],
            "additionalProperties": false,
        ]
    }

    // MARK: - Tools

    var run: Tool {
        Tool(
            name: "super_agent_run",
            title: "Run a task on the shared pool",
            description: """
                Send one-shot specialist work to the shared pool: a slot runs an agent CLI (claude, gemini, codex, or a \
                command) in a clean workspace, returns its result and dies; nothing carries over between runs. \
                Status OK or POOL_BUSY (back off and retry, or pass wait_s) are not errors; POOL_UNREACHABLE means \
                escalate, do not retry blindly. For runs over about a minute pass wait: false and collect the result \
                with super_agent_result.
                """,
            inputSchema: runInput,
            outputSchema: Self.resultSchema,
            annotations: ToolAnnotations(readOnly: false, destructive: true, idempotent: false, openWorld: true)
        ) { arguments, context in
            let request: RunRequest
            let waitSeconds = arguments["wait_s"]?.numberValue ?? 0
            switch makeRequest(arguments) {
            case .success(let r): request = r
            case .failure(let e): return .error("\(e.field): \(e.problem)")
            }
            let dispatcher: any RunDispatcher =
                if arguments["fallback"]?.stringValue == "inline", let inlineFallback {
                    inlineFallback
                } else {
                    self.dispatcher
                }
            let retry = self.retry
            if arguments["wait"]?.boolValue == false {
                let started = handles.start(request) { events in
                    await retry.submit(request, waitSeconds: waitSeconds, via: dispatcher, events: events)
                }
                guard started else { return .error("run_id \(request.runID) is already in use") }
                return .structured([
                    "status": "RUNNING", "run_id": .string(request.runID), "task": .string(request.task),
                    "adapter": .string(request.adapter),
                    "message": "started; poll super_agent_status or wait with super_agent_result(run_id, wait_s)",
                ])
            }
            let result = await Self.withProgress(context: context, interval: progressInterval) { events in
                await retry.submit(
                    request, waitSeconds: waitSeconds, via: dispatcher, events: events,
                    onBusy: { attempt, delay in
                        context.log(.info, "pool busy; retry \(attempt) in \(delay) ms", data: ["run_id": .string(request.runID)])
                    })
            }
            return .structured(result.json, isError: result.status.isError)
        }
    }

    var status: Tool {
        Tool(
            name: "super_agent_status",
            title: "Status of a pool run",
            description: "Whether a run started with super_agent_run is still going, and for how long; the final status once it ended.",
            inputSchema: ["type": "object", "properties": ["run_id": Self.runIDProperty], "required": ["run_id"], "additionalProperties": false],
            outputSchema: Self.resultSchema,
            annotations: ToolAnnotations(readOnly: true, destructive: false, idempotent: true, openWorld: false)
        ) { arguments, _ in
            let runID = arguments["run_id"]?.stringValue ?? ""
            if let e = handles.entry(runID) { return .structured(Self.describe(e)) }
            let pool = await dispatcher.status()
            if let r = pool.runs.first(where: { $0.runID == runID }) {
                return .structured([
                    "status": "RUNNING", "run_id": .string(runID), "task": .string(r.task), "adapter": .string(r.adapter),
                    "pod": .string(r.pod), "elapsed_ms": JSON(r.elapsedMs),
                ])
            }
            return .error("run_id: no run \"\(runID)\" is known here (results are kept for an hour after a run ends)")
        }
    }

    var result: Tool {
        Tool(
            name: "super_agent_result",
            title: "Result of a pool run",
            description: "The result of a run started with wait: false, waiting up to wait_s seconds for it; status RUNNING if it is still going.",
            inputSchema: [
                "type": "object",
                "properties": [
                    "run_id": Self.runIDProperty,
                    "wait_s": ["type": "number", "minimum": 0, "maximum": 600, "default": 0, "description": "How long to wait for the run to end."],
                ],
                "required": ["run_id"], "additionalProperties": false,
            ],
            outputSchema: Self.resultSchema,
            annotations: ToolAnnotations(readOnly: true, destructive: false, idempotent: true, openWorld: false)
        ) { arguments, context in
            let runID = arguments["run_id"]?.stringValue ?? ""
            let wait = arguments["wait_s"]?.numberValue ?? 0
            let ticker = Task {
                var n = 0.0
                while !Task.isCancelled {
                    try? await Task.sleep(for: progressInterval)
                    n += 1
                    context.reportProgress(n, message: "waiting for \(runID)")
                }
            }
            defer { ticker.cancel() }
            guard let e = await handles.result(runID, waitSeconds: wait) else {
                return .error("run_id: no background run \"\(runID)\" is known here (start one with super_agent_run wait: false)")
            }
            if let r = e.result { return .structured(r.json, isError: r.status.isError) }
            return .structured(Self.describe(e))
        }
    }

    var cancel: Tool {
        Tool(
            name: "super_agent_cancel",
            title: "Cancel a pool run",
            description: "Stop a run: its processes are killed and its slot freed. The run's result becomes CANCELLED.",
            inputSchema: ["type": "object", "properties": ["run_id": Self.runIDProperty], "required": ["run_id"], "additionalProperties": false],
            outputSchema: Self.resultSchema,
            annotations: ToolAnnotations(readOnly: false, destructive: true, idempotent: true, openWorld: false)
        ) { arguments, _ in
            let runID = arguments["run_id"]?.stringValue ?? ""
            var cancelled = handles.cancel(runID)
            if await dispatcher.cancel(runID: runID) { cancelled = true }
            if !cancelled, let e = handles.entry(runID), let r = e.result {
                return .structured([
                    "status": .string(r.status.rawValue), "run_id": .string(runID), "cancelled": false,
                    "message": "the run had already ended",
                ])
            }
            guard cancelled else { return .error("run_id: no running run \"\(runID)\" is known here") }
            return .structured([
                "status": "CANCELLED", "run_id": .string(runID), "cancelled": true, "message": "cancel sent; the slot is freed",
            ])
        }
    }

    // MARK: - Helpers

    /// Checks the arguments with the same rules the pool applies, naming the tool's own fields.
    func makeRequest(_ a: JSONObject) -> Result<RunRequest, RunRequestError> {
        let hasText = a["prompt_text"] != nil
        let hasFile = a["prompt_file"] != nil
        if hasText == hasFile {
            return .failure(RunRequestError(field: "prompt_text", problem: "give exactly one of prompt_text and prompt_file"))
        }
        var wire: JSONObject = [
            "run_id": .string(Self.mintRunID()), "task": a["task"] ?? "",
            "adapter": a["adapter"] ?? .string(AccountingDispatcher.autoAdapter),
            "cwd_mode": a["cwd_mode"] ?? "isolated",
        ]
        if let t = a["prompt_text"] { wire["prompt"] = t }
        if let f = a["prompt_file"] { wire["prompt_file"] = f }
        if let c = a["caller_cwd"] { wire["caller_cwd"] = c }
        if let m = a["model_hint"], m.stringValue != "auto", m.stringValue != "" { wire["model"] = m }
        if let t = a["timeout_s"] { wire["timeout_s"] = t }
        if let callerAgent { wire["caller_agent"] = .string(callerAgent) }
        do throws(RunRequestError) {
            return .success(try RunRequest(json: .object(wire)))
        } catch {
            let names = ["prompt": "prompt_text", "model": "model_hint"]
            return .failure(RunRequestError(field: names[error.field] ?? error.field, problem: error.problem))
        }
    }

    /// A run id nobody else will mint: 64 random bits.
    static func mintRunID() -> String {
        var g = SystemRandomNumberGenerator()
        let hex = String(g.next() as UInt64, radix: 16)
        return "run-" + String(repeating: "0", count: 16 - hex.count) + hex
    }

    static func describe(_ e: RunHandles.Entry) -> JSON {
        if let r = e.result { return r.json }
        var o: JSONObject = [
            "status": "RUNNING", "run_id": .string(e.request.runID), "task": .string(e.request.task),
            "adapter": .string(e.request.adapter), "elapsed_ms": JSON(e.started.duration(to: .now).milliseconds),
        ]
        if case .accepted(_, let pod) = e.lastEvent { o["pod"] = .string(pod) }
        return .object(o)
    }

    /// Runs `body`, turning pool events and the passage of time into `notifications/progress`.
    static func withProgress(
        context: ToolContext, interval: Duration, _ body: (@escaping @Sendable (RunEvent) -> Void) async -> RunResult
    ) async -> RunResult {
        let started = ContinuousClock.now
        let ticker = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                if Task.isCancelled { break }
                let ms = started.duration(to: .now).milliseconds
                context.reportProgress(Double(ms) / 1000, message: "running for \(ms / 1000) s")
            }
        }
        defer { ticker.cancel() }
        return await body { event in
            switch event {
            case .accepted(let id, let pod):
                context.reportProgress(Double(started.duration(to: .now).milliseconds) / 1000, message: "run \(id) accepted on pod \(pod)")
            case .progress(_, let ms):
                context.reportProgress(Double(ms) / 1000, message: "running for \(ms / 1000) s")
            case .result: break
            }
        }
    }
}
