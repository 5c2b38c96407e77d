import JSON

/// Where a run works: a fresh private directory, or the caller's own (sanitized) directory.
public enum CwdMode: String, Sendable, CaseIterable {
    case isolated
    case caller
}

/// One request for a one-shot run, as the caller (an MCP server or `super-agent run`) mints it.
public struct RunRequest: Sendable, Equatable {
    /// Minted by the caller, so it can cancel or look the run up before any answer arrives.
    public var runID: String
    /// A short label for humans and the ledger (`summarize-logs`).
    public var task: String
    /// The prompt text; exactly one of `prompt` and `promptFile` is set.
    public var prompt: String?
    /// A file holding the prompt, resolved by the pool's path sanitizer.
    public var promptFile: String?
    public var adapter: String
    /// The model asked for; `nil` means the adapter's default.
    public var model: String?
    public var cwdMode: CwdMode
    public var callerCwd: String?
    /// Seconds before the run is stopped; `nil` means the pool's default. Capped by the pool.
    public var timeoutSeconds: Int?
    public var callerAgent: String?
    /// Set only on a run one pod forwards to another: the slot the first pod took on the second's
    /// behalf in the shared registry. The receiving pod adopts it instead of acquiring, and never
    /// forwards again (one hop).
    public var lease: SlotLease?

    public init(
        runID: String, task: String, prompt: String? = nil, promptFile: String? = nil, adapter: String,
        model: String? = nil, cwdMode: CwdMode = .isolated, callerCwd: String? = nil, timeoutSeconds: Int? = nil,
        callerAgent: String? = nil, lease: SlotLease? = nil
    ) {
        self.runID = runID
        self.task = task
        self.prompt = prompt
        self.promptFile = promptFile
        self.adapter = adapter
        self.model = model
        self.cwdMode = cwdMode
        self.callerCwd = callerCwd
        self.timeoutSeconds = timeoutSeconds
        self.callerAgent = callerAgent
        self.lease = lease
    }
}

/// Why a request was refused before anything ran; the message names the field.
public struct RunRequestError: Error, Sendable, Equatable, CustomStringConvertible {
    public let field: String
    public let problem: String
    public init(field: String, problem: String) {
        self.field = field
        self.problem = problem
    }
    public var description: String { "\(field): \(problem)" }
}

extension RunRequest {
    /// Limits a request must respect on the wire.
    public static let maxPromptBytes = 4 << 20
    public static let maxLabelBytes = 200

    /// The wire form (`POST /v1/runs` body).
    public var json: JSON {
        var o: JSONObject = [
            "run_id": .string(runID), "task": .string(task), "adapter": .string(adapter),
            "cwd_mode": .string(cwdMode.rawValue),
        ]
        if let prompt { o["prompt"] = .string(prompt) }
        if let promptFile { o["prompt_file"] = .string(promptFile) }
        if let model { o["model"] = .string(model) }
        if let callerCwd { o["caller_cwd"] = .string(callerCwd) }
        if let timeoutSeconds { o["timeout_s"] = JSON(timeoutSeconds) }
        if let callerAgent { o["caller_agent"] = .string(callerAgent) }
        if let lease {
            o["lease"] = ["pod": .string(lease.pod), "slot": JSON(lease.slot), "run_id": .string(lease.runID)]
        }
        return .object(o)
    }

    /// Reads and checks the wire form; unknown fields are refused so a typo never goes unnoticed.
    public init(json: JSON) throws(RunRequestError) {
        guard case .object(let o) = json else { throw RunRequestError(field: "body", problem: "must be a JSON object") }
        let known: Set = [
            "run_id", "task", "prompt", "prompt_file", "adapter", "model", "cwd_mode", "caller_cwd", "timeout_s",
            "caller_agent", "lease",
        ]
        if let unknown = o.keys.first(where: { !known.contains($0) }) {
            throw RunRequestError(field: unknown, problem: "unknown field; allowed: \(known.sorted().joined(separator: ", "))")
        }
        func string(_ key: String, required: Bool = false, max: Int = RunRequest.maxLabelBytes) throws(RunRequestError) -> String? {
            guard let v = o[key], !v.isNull else {
                if required { throw RunRequestError(field: key, problem: "is required") }
                return nil
            }
            guard let s = v.stringValue else { throw RunRequestError(field: key, problem: "must be a string") }
            if required && s.isEmpty { throw RunRequestError(field: key, problem: "must not be empty") }
            guard s.utf8.count <= max else { throw RunRequestError(field: key, problem: "is longer than \(max) bytes") }
            return s
        }
        let runID = try string("run_id", required: true)!
        guard runID.utf8.allSatisfy({ $0 == 0x2D || $0 == 0x5F || $0 == 0x2E || (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) }),
            runID.utf8.count <= 128
        else { throw RunRequestError(field: "run_id", problem: "must be 1-128 characters of A-Z a-z 0-9 . _ -") }
        let mode: CwdMode
        if let m = try string("cwd_mode") {
            guard let parsed = CwdMode(rawValue: m) else { throw RunRequestError(field: "cwd_mode", problem: "must be isolated or caller") }
            mode = parsed
        } else {
            mode = .isolated
        }
        var timeout: Int? = nil
        if let t = o["timeout_s"], !t.isNull {
            guard let n = t.exactInteger, n >= 1, n <= 86_400 else {
                throw RunRequestError(field: "timeout_s", problem: "must be an integer number of seconds from 1 to 86400")
            }
            timeout = Int(n)
        }
        self.init(
            runID: runID, task: try string("task", required: true)!,
            prompt: try string("prompt", max: RunRequest.maxPromptBytes),
            promptFile: try string("prompt_file", max: 4096), adapter: try string("adapter", required: true)!,
            model: try string("model"), cwdMode: mode, callerCwd: try string("caller_cwd", max: 4096),
            timeoutSeconds: timeout, callerAgent: try string("caller_agent"))
        if let l = o["lease"], !l.isNull {
            guard let pod = l["pod"]?.stringValue, let slot = l["slot"]?.exactInteger, l["run_id"]?.stringValue == runID else {
                throw RunRequestError(field: "lease", problem: "must be {pod, slot, run_id} for this run")
            }
            lease = SlotLease(runID: runID, slot: Int(slot), pod: pod)
        }
        if (prompt == nil) == (promptFile == nil) {
            throw RunRequestError(field: "prompt", problem: "exactly one of prompt and prompt_file must be given")
        }
        if mode == .caller && callerCwd == nil {
            throw RunRequestError(field: "caller_cwd", problem: "is required when cwd_mode is caller")
        }
    }
}
