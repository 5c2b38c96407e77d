import JSON
import Runs

/// What to do when the remote pool cannot be reached.
public enum PoolFallback: String, Sendable, CaseIterable {
    /// Answer POOL_UNREACHABLE at once, so the agent escalates.
    case none
    /// Run the task in the embedded pool instead, and say so in the result.
    case inline
}

/// The pool half of the configuration: slots, workspaces, limits, adapters, and where a remote pool is.
public struct PoolConfig: Sendable {
    public var slots = 3
    public var listen = "0.0.0.0:8080"
    /// Directories a `caller` run may work in (after resolving symlinks). Default: the current directory.
    public var workspaceRoots: [String] = []
    /// Where isolated workspaces are made; default `<state dir>/workspaces`.
    public var scratchDir: String?
    public var limits = RunLimits()
    /// How long in-flight runs may finish after SIGTERM before they are cancelled.
    public var drainGraceSeconds = 30.0
    public var progressIntervalSeconds = 2.0
    public var maxBodyBytes = 8 << 20
    public var retryAfterMs = 2000
    /// `SUPER_AGENT_POOL_URL`: when set, runs go to that pool over HTTP instead of the embedded one.
    public var url: String?
    /// `SUPER_AGENT_POOL_TOKEN`, or the contents of `token_file`. Never printed.
    public var token: String?
    public var tokenFile: String?
    public var fallback = PoolFallback.none
    public var confinement = "auto"
    public var adapters: [AdapterSpec] = AdapterSpec.defaults

    public init() {}

    /// Applies the `pool` and `adapters` sections of a config file.
    mutating func apply(pool section: JSON?, adapters adapterSection: JSON?, source: String) throws(ConfigError) {
        if let section {
            guard case .object(let o) = section else { throw .invalidValue(key: "pool", source: source, expected: "an object") }
            let known: Set = [
                "slots", "listen", "workspace_roots", "scratch_dir", "default_timeout_s", "max_timeout_s", "output_cap_bytes",
                "kill_grace_s", "drain_grace_s", "progress_interval_s", "max_body_bytes", "retry_after_ms", "url", "token_file",
                "fallback", "confinement",
            ]
            if let unknown = o.keys.first(where: { !known.contains($0) }) {
                throw .invalidValue(key: "pool.\(unknown)", source: source, expected: "one of the known keys (\(known.sorted().joined(separator: ", ")))")
            }
            func int(_ key: String, _ range: ClosedRange<Int>) throws(ConfigError) -> Int? {
                guard let v = o[key] else { return nil }
                guard let n = v.exactInteger, range.contains(Int(n)) else {
                    throw .invalidValue(key: "pool.\(key)", source: source, expected: "an integer from \(range.lowerBound) to \(range.upperBound)")
                }
                return Int(n)
            }
            func seconds(_ key: String) throws(ConfigError) -> Double? {
                guard let v = o[key] else { return nil }
                guard let n = v.numberValue, n >= 0, n <= 86_400 else {
                    throw .invalidValue(key: "pool.\(key)", source: source, expected: "a number of seconds from 0 to 86400")
                }
                return n
            }
            func string(_ key: String) throws(ConfigError) -> String? {
                guard let v = o[key], !v.isNull else { return nil }
                guard let s = v.stringValue else { throw .invalidValue(key: "pool.\(key)", source: source, expected: "a string") }
                return s
            }
            if let n = try int("slots", 1...256) { slots = n }
            if let s = try string("listen") { listen = s }
            if let roots = o["workspace_roots"] {
                guard let list = roots.arrayValue?.compactMap(\.stringValue), list.count == roots.arrayValue?.count,
                    list.allSatisfy({ $0.hasPrefix("/") })
                else { throw .invalidValue(key: "pool.workspace_roots", source: source, expected: "an array of absolute paths") }
                workspaceRoots = list
            }
            if let s = try string("scratch_dir") {
                guard s.hasPrefix("/") else { throw .invalidValue(key: "pool.scratch_dir", source: source, expected: "an absolute path") }
                scratchDir = s
            }
            if let n = try int("default_timeout_s", 1...86_400) { limits.defaultTimeoutSeconds = n }
            if let n = try int("max_timeout_s", 1...86_400) { limits.maxTimeoutSeconds = n }
            if let n = try int("output_cap_bytes", 1024...(256 << 20)) { limits.outputCapBytes = n }
            if let s = try seconds("kill_grace_s") { limits.killGrace = .milliseconds(Int64(s * 1000)) }
            if let s = try seconds("drain_grace_s") { drainGraceSeconds = s }
            if let s = try seconds("progress_interval_s") { progressIntervalSeconds = max(0.05, s) }
            if let n = try int("max_body_bytes", 1024...(64 << 20)) { maxBodyBytes = n }
            if let n = try int("retry_after_ms", 1...600_000) { retryAfterMs = n }
            if let s = try string("url") { url = s.isEmpty ? nil : s }
            if let s = try string("token_file") { tokenFile = s }
            if let s = try string("fallback") {
                guard let f = PoolFallback(rawValue: s) else { throw .invalidValue(key: "pool.fallback", source: source, expected: "\"none\" or \"inline\"") }
                fallback = f
            }
            if let s = try string("confinement") {
                guard ["auto", "landlock", "none"].contains(s) else {
                    throw .invalidValue(key: "pool.confinement", source: source, expected: "\"auto\", \"landlock\" or \"none\"")
                }
                confinement = s
            }
        }
        if let adapterSection {
            guard case .object(let o) = adapterSection else {
                throw .invalidValue(key: "adapters", source: source, expected: "an object mapping adapter names to their settings")
            }
            for (name, value) in o { try applyAdapter(name: name, value, source: source) }
        }
    }

    /// Overrides fields of a built-in adapter, or declares a new one (which then needs argv).
    mutating func applyAdapter(name: String, _ value: JSON, source: String) throws(ConfigError) {
        let key = "adapters.\(name)"
        guard case .object(let o) = value else { throw .invalidValue(key: key, source: source, expected: "an object") }
        let known: Set = ["argv", "prompt", "model_flag", "models", "default_model", "pass_env", "output"]
        if let unknown = o.keys.first(where: { !known.contains($0) }) {
            throw .invalidValue(key: "\(key).\(unknown)", source: source, expected: "one of \(known.sorted().joined(separator: ", "))")
        }
        func strings(_ k: String) throws(ConfigError) -> [String]? {
            guard let v = o[k] else { return nil }
            guard let a = v.arrayValue, case let list = a.compactMap(\.stringValue), list.count == a.count else {
                throw .invalidValue(key: "\(key).\(k)", source: source, expected: "an array of strings")
            }
            return list
        }
        let index = adapters.firstIndex { $0.name == name }
        var spec = index.map { adapters[$0] } ?? AdapterSpec(
            name: name, argv: [], prompt: .stdin, modelFlag: nil, models: [], defaultModel: nil, passEnv: [], output: .text)
        if let argv = try strings("argv") {
            guard !argv.isEmpty, !argv[0].isEmpty else { throw .invalidValue(key: "\(key).argv", source: source, expected: "a non-empty array starting with the program") }
            spec.argv = argv
        }
        if let p = o["prompt"] {
            guard let d = p.stringValue.flatMap(PromptDelivery.init(rawValue:)) else {
                throw .invalidValue(key: "\(key).prompt", source: source, expected: "\"stdin\" or \"argument\"")
            }
            spec.prompt = d
        }
        if let f = o["model_flag"] {
            guard f.isNull || f.stringValue != nil else { throw .invalidValue(key: "\(key).model_flag", source: source, expected: "a string or null") }
            spec.modelFlag = f.stringValue
        }
        if let models = try strings("models") { spec.models = models }
        if let d = o["default_model"] {
            guard d.isNull || d.stringValue != nil else { throw .invalidValue(key: "\(key).default_model", source: source, expected: "a string or null") }
            spec.defaultModel = d.stringValue
        }
        if let env = try strings("pass_env") { spec.passEnv = env }
        if let out = o["output"] {
            guard let f = out.stringValue.flatMap(OutputFormat.init(rawValue:)) else {
                throw .invalidValue(key: "\(key).output", source: source, expected: "one of \(OutputFormat.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            spec.output = f
        }
        guard !spec.argv.isEmpty else { throw .invalidValue(key: "\(key).argv", source: source, expected: "given for a new adapter") }
        if let d = spec.defaultModel, !spec.models.isEmpty, !spec.models.contains(d) {
            throw .invalidValue(key: "\(key).default_model", source: source, expected: "one of its models (\(spec.models.joined(separator: ", ")))")
        }
        if let index { adapters[index] = spec } else { adapters.append(spec) }
    }

    var json: JSON {
        var o: JSONObject = [
            "slots": JSON(slots), "listen": .string(listen), "workspace_roots": JSON(workspaceRoots),
            "scratch_dir": JSON(scratchDir), "default_timeout_s": JSON(limits.defaultTimeoutSeconds),
            "max_timeout_s": JSON(limits.maxTimeoutSeconds), "output_cap_bytes": JSON(limits.outputCapBytes),
            "kill_grace_s": .double(Double(limits.killGrace.components.seconds) + Double(limits.killGrace.components.attoseconds) / 1e18),
            "drain_grace_s": .double(drainGraceSeconds), "progress_interval_s": .double(progressIntervalSeconds),
            "max_body_bytes": JSON(maxBodyBytes), "retry_after_ms": JSON(retryAfterMs), "url": JSON(url),
            "fallback": .string(fallback.rawValue), "confinement": .string(confinement),
        ]
        // The token itself is never printed; it comes from the environment or token_file.
        if let tokenFile { o["token_file"] = .string(tokenFile) }
        return .object(o)
    }

    var adaptersJSON: JSON {
        var o = JSONObject()
        for a in adapters {
            o[a.name] = [
                "argv": JSON(a.argv), "prompt": .string(a.prompt.rawValue), "model_flag": JSON(a.modelFlag),
                "models": JSON(a.models), "default_model": JSON(a.defaultModel), "pass_env": JSON(a.passEnv),
                "output": .string(a.output.rawValue),
            ]
        }
        return .object(o)
    }
}
