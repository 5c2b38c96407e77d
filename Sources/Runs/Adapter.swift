import JSON

/// How an adapter CLI receives the prompt.
public enum PromptDelivery: String, Sendable, CaseIterable {
    /// Written to the child's stdin, which is then closed (no size limit from argv, not in `ps`).
    case stdin
    /// Appended as the last argument.
    case argument
}

/// Which parser reads an adapter's stdout.
public enum OutputFormat: String, Sendable, CaseIterable {
    /// `claude -p --output-format json`: one object with result, is_error, total_cost_usd, usage…
    case claudeJSON = "claude-json"
    /// `gemini --output-format json`: one object with response, stats.models.<m>.tokens, error.
    case geminiJSON = "gemini-json"
    /// `codex exec --json`: JSON lines (thread.started, item.completed, turn.completed/failed).
    case codexJSONL = "codex-jsonl"
    /// Any command: stdout is the answer, exit 0 is success.
    case text
}

/// One agent CLI the pool can run, as declared in the config file.
public struct AdapterSpec: Sendable, Equatable {
    public var name: String
    /// Program and fixed arguments; the program resolves through PATH.
    public var argv: [String]
    public var prompt: PromptDelivery
    /// The flag that precedes the model name (`--model`, `-m`); nil when the CLI has none.
    public var modelFlag: String?
    /// Models a caller may ask for; empty means any model is passed through.
    public var models: [String]
    public var defaultModel: String?
    /// Environment variables passed through from the pool's environment (the adapter's API key and
    /// little else). Everything not listed is withheld from the run.
    public var passEnv: [String]
    public var output: OutputFormat

    public init(
        name: String, argv: [String], prompt: PromptDelivery, modelFlag: String?, models: [String], defaultModel: String?,
        passEnv: [String], output: OutputFormat
    ) {
        self.name = name
        self.argv = argv
        self.prompt = prompt
        self.modelFlag = modelFlag
        self.models = models
        self.defaultModel = defaultModel
        self.passEnv = passEnv
        self.output = output
    }

    /// The model a run uses: the hint when allowed, else the default, with a note saying which.
    public func chooseModel(hint: String?) -> (model: String?, note: String?) {
        guard let hint, !hint.isEmpty, hint != "auto" else { return (defaultModel, nil) }
        if models.isEmpty || models.contains(hint) { return (hint, nil) }
        let allowed = models.joined(separator: ", ")
        return (
            defaultModel,
            "model \"\(hint)\" is not allowed for adapter \(name) (allowed: \(allowed)); used the default \(defaultModel ?? "of the CLI")"
        )
    }

    /// The argv for one run: fixed arguments, the model flag, and the prompt when passed as an argument.
    public func arguments(model: String?, prompt text: String) -> [String] {
        var args = argv
        if let modelFlag, let model { args += [modelFlag, model] }
        if prompt == .argument { args.append(text) }
        return args
    }

    /// The built-in adapters; the config file may override any field or add others.
    public static let defaults: [AdapterSpec] = [
        AdapterSpec(
            name: "claude", argv: ["claude", "-p", "--output-format", "json"], prompt: .stdin, modelFlag: "--model",
            models: ["haiku", "sonnet", "opus", "claude-haiku-4-5", "claude-sonnet-4-5", "claude-opus-4-5"],
            defaultModel: "sonnet", passEnv: ["ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN"], output: .claudeJSON),
        AdapterSpec(
            name: "gemini", argv: ["gemini", "--output-format", "json"], prompt: .stdin, modelFlag: "-m",
            models: ["gemini-2.5-flash-lite", "gemini-2.5-flash", "gemini-2.5-pro"], defaultModel: "gemini-2.5-flash",
            passEnv: ["GEMINI_API_KEY", "GOOGLE_API_KEY"], output: .geminiJSON),
        AdapterSpec(
            name: "codex", argv: ["codex", "exec", "--json", "--skip-git-repo-check"], prompt: .stdin, modelFlag: "-m",
            models: ["gpt-5-codex", "gpt-5", "gpt-5-mini"], defaultModel: "gpt-5-codex", passEnv: ["OPENAI_API_KEY", "CODEX_API_KEY"],
            output: .codexJSONL),
        AdapterSpec(
            name: "command", argv: ["sh", "-c", "cat"], prompt: .stdin, modelFlag: nil, models: [], defaultModel: nil,
            passEnv: [], output: .text),
    ]
}

/// Environment every run gets regardless of adapter: enough for a CLI to find its tools and a home,
/// never the pool's secrets.
public enum RunEnvironment {
    public static let baseAllowList = ["PATH", "LANG", "LC_ALL", "TZ", "TERM"]

    /// The child's complete environment: allow-listed variables from `source`, then fixed values.
    public static func make(for adapter: AdapterSpec, source: [String: String], workspace: String, runID: String) -> [String: String] {
        var env: [String: String] = [:]
        for name in baseAllowList + adapter.passEnv { if let v = source[name] { env[name] = v } }
        if env["PATH"] == nil { env["PATH"] = "/usr/local/bin:/usr/bin:/bin" }
        env["HOME"] = workspace
        env["TMPDIR"] = workspace
        env["SUPER_AGENT_RUN_ID"] = runID
        return env
    }
}
