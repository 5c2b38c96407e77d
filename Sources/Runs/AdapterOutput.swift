import JSON

/// What an adapter's output means: the answer, whether it succeeded, and what it cost.
public struct AdapterOutput: Sendable, Equatable {
    public var succeeded: Bool
    public var output: String
    public var message: String?
    public var usage: RunUsage?
    public var costUSD: Double?
    /// The model the CLI says it used, when it says so.
    public var model: String?
    public var details: JSONObject

    public init(succeeded: Bool, output: String, message: String? = nil, usage: RunUsage? = nil, costUSD: Double? = nil, model: String? = nil, details: JSONObject = [:]) {
        self.succeeded = succeeded
        self.output = output
        self.message = message
        self.usage = usage
        self.costUSD = costUSD
        self.model = model
        self.details = details
    }
}

extension OutputFormat {
    /// Reads a finished child's output. Never throws: output that does not parse becomes a failure
    /// that quotes what the CLI printed.
    public func parse(stdout: String, stderr: String, exitCode: Int32) -> AdapterOutput {
        switch self {
        case .text: Self.parseText(stdout: stdout, stderr: stderr, exitCode: exitCode)
        case .claudeJSON: Self.parseClaude(stdout: stdout, stderr: stderr, exitCode: exitCode)
        case .geminiJSON: Self.parseGemini(stdout: stdout, stderr: stderr, exitCode: exitCode)
        case .codexJSONL: Self.parseCodex(stdout: stdout, stderr: stderr, exitCode: exitCode)
        }
    }

    static func tail(_ s: String, _ n: Int = 500) -> String {
        let t = s.trimmingWhitespace
        return t.count <= n ? t : "…" + String(t.suffix(n))
    }

    static func parseText(stdout: String, stderr: String, exitCode: Int32) -> AdapterOutput {
        if exitCode == 0 { return AdapterOutput(succeeded: true, output: stdout) }
        let why = stderr.isEmpty ? "" : ": \(tail(stderr))"
        return AdapterOutput(succeeded: false, output: stdout, message: "the command exited with status \(exitCode)\(why)")
    }

    /// The last top-level JSON object in the output (CLIs may print warnings first).
    static func lastObject(_ stdout: String) -> JSON? {
        if let whole = try? JSON.parse(stdout), whole.objectValue != nil { return whole }
        // A pretty-printed object after warning lines: try from each line that opens an object.
        let lines = stdout.split(separator: "\n", omittingEmptySubsequences: false)
        for i in lines.indices.reversed() where lines[i].first == "{" {
            if let v = try? JSON.parse(lines[i...].joined(separator: "\n")), v.objectValue != nil { return v }
        }
        for line in stdout.split(separator: "\n").reversed() {
            if let v = try? JSON.parse(String(line)), v.objectValue != nil { return v }
        }
        return nil
    }

    static func int(_ v: JSON?) -> Int? { v?.exactInteger.map { Int($0) } }

    static func parseClaude(stdout: String, stderr: String, exitCode: Int32) -> AdapterOutput {
        guard let o = lastObject(stdout) else {
            return AdapterOutput(
                succeeded: false, output: stdout,
                message: "claude exited with status \(exitCode) without a JSON result: \(tail(stderr.isEmpty ? stdout : stderr))")
        }
        let isError = o["is_error"]?.boolValue ?? (exitCode != 0)
        let result = o["result"]?.stringValue ?? ""
        var usage: RunUsage? = nil
        if let u = o["usage"], u.objectValue != nil {
            usage = RunUsage(
                inputTokens: int(u["input_tokens"]), outputTokens: int(u["output_tokens"]),
                cacheReadTokens: int(u["cache_read_input_tokens"]), cacheWriteTokens: int(u["cache_creation_input_tokens"]))
        }
        var details: JSONObject = [:]
        for key in ["session_id", "num_turns", "duration_ms", "duration_api_ms", "subtype"] { if let v = o[key] { details[key] = v } }
        let ok = !isError && exitCode == 0
        let subtype = o["subtype"]?.stringValue
        let message: String? =
            ok ? nil : "claude reported an error\(subtype.map { " (\($0))" } ?? ""): \(tail(result.isEmpty ? stderr : result))"
        return AdapterOutput(
            succeeded: ok, output: result, message: message, usage: usage, costUSD: o["total_cost_usd"]?.numberValue,
            details: details)
    }

    /// Gemini CLI exit codes (headless mode): 0 success, 1 general/API error, 42 input error, 53 turn limit.
    public static func geminiExitMeaning(_ code: Int32) -> String {
        switch code {
        case 0: "success"
        case 1: "general error or API failure"
        case 42: "input error (invalid prompt or arguments)"
        case 53: "turn limit exceeded"
        default: "exit status \(code)"
        }
    }

    static func parseGemini(stdout: String, stderr: String, exitCode: Int32) -> AdapterOutput {
        guard let o = lastObject(stdout) else {
            return AdapterOutput(
                succeeded: false, output: stdout,
                message: "gemini failed (\(geminiExitMeaning(exitCode))) without a JSON result: \(tail(stderr.isEmpty ? stdout : stderr))")
        }
        var usage: RunUsage? = nil
        var model: String? = nil
        if let models = o["stats"]?["models"]?.objectValue, !models.isEmpty {
            var input = 0, output = 0, cached = 0
            for (name, m) in models {
                model = model ?? name
                input += int(m["tokens"]?["prompt"]) ?? 0
                output += (int(m["tokens"]?["candidates"]) ?? 0) + (int(m["tokens"]?["thoughts"]) ?? 0)
                cached += int(m["tokens"]?["cached"]) ?? 0
            }
            usage = RunUsage(inputTokens: input, outputTokens: output, cacheReadTokens: cached)
        }
        let response = o["response"]?.stringValue ?? ""
        let error = o["error"]
        let ok = exitCode == 0 && (error == nil || error!.isNull)
        var message: String? = nil
        if !ok {
            let detail = error?["message"]?.stringValue ?? tail(stderr)
            message = "gemini failed (\(geminiExitMeaning(exitCode))): \(detail)"
        }
        var details: JSONObject = ["exit_meaning": .string(geminiExitMeaning(exitCode))]
        if let e = error, !e.isNull { details["error"] = e }
        return AdapterOutput(succeeded: ok, output: response, message: message, usage: usage, model: model, details: details)
    }

    static func parseCodex(stdout: String, stderr: String, exitCode: Int32) -> AdapterOutput {
        var answer: [String] = []
        var input = 0, cached = 0, output = 0, sawUsage = false
        var failure: String? = nil
        var details: JSONObject = [:]
        for line in stdout.split(separator: "\n") {
            guard let e = try? JSON.parse(String(line)), let type = e["type"]?.stringValue else { continue }
            switch type {
            case "thread.started": if let id = e["thread_id"] { details["thread_id"] = id }
            case "item.completed":
                if e["item"]?["type"]?.stringValue == "agent_message", let text = e["item"]?["text"]?.stringValue { answer.append(text) }
            case "turn.completed", "turn.failed":
                if let u = e["usage"], u.objectValue != nil {
                    sawUsage = true
                    input += int(u["input_tokens"]) ?? 0
                    cached += int(u["cached_input_tokens"]) ?? 0
                    output += int(u["output_tokens"]) ?? 0
                }
                // A transient `error` (reconnecting) followed by a completed turn is a success.
                failure = type == "turn.failed" ? e["error"]?["message"]?.stringValue ?? "turn failed" : nil
            case "error": failure = e["message"]?.stringValue ?? "error"
            default: break
            }
        }
        let ok = exitCode == 0 && failure == nil
        let message: String? =
            ok ? nil : "codex failed (exit status \(exitCode)): \(failure ?? tail(stderr.isEmpty ? stdout : stderr))"
        return AdapterOutput(
            succeeded: ok, output: answer.last ?? "", message: message,
            usage: sawUsage ? RunUsage(inputTokens: input, outputTokens: output, cacheReadTokens: cached) : nil, details: details)
    }
}

extension String {
    /// The string without leading and trailing whitespace (no Foundation needed).
    public var trimmingWhitespace: String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}
