import Dispatch
import JSON
import Log
import Runs
import Signals
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `super-agent run`: `super_agent_run` from a shell, printing the result as JSON.
public enum RunCommand {
    public static let spec = CommandSpec(
        name: "run",
        summary: """
            Run one task on the pool (SUPER_AGENT_POOL_URL) or, when that is unset, in an embedded pool, and print the
            result JSON. Exit status: 0 OK, 75 POOL_BUSY, 69 POOL_UNREACHABLE, 1 anything else (including BUDGET_EXCEEDED).
            Every run is recorded in the cost ledger (see super-agent costs). Same environment as mcp.
            """,
        options: [
            ("task", "LABEL", "a short label for the work (required)"),
            ("prompt", "TEXT", "the prompt (or --prompt-file)"),
            ("prompt-file", "FILE", "a file holding the prompt"),
            ("adapter", "NAME", "auto (default: routing picks by task), claude, gemini, codex, command, or one from the config"),
            ("cwd-mode", "MODE", "isolated (default) or caller"),
            ("caller-cwd", "DIR", "the directory for --cwd-mode caller (default the current directory)"),
            ("model", "MODEL", "a model the adapter allows (else its default, and the result says so)"),
            ("timeout", "SECONDS", "stop the run after this long (default 600, capped by the pool)"),
            ("wait", "SECONDS", "keep retrying this long while the pool is busy (default 0)"),
            ("config", "FILE", "JSON config file"),
            ("pool-url", "URL", "a remote pool (SUPER_AGENT_POOL_URL)"),
            ("fallback", "MODE", "none (default) or inline"),
            ("workspace-root", "DIR", "a directory caller-mode runs may use (repeatable)"),
            ("state-dir", "DIR", "state directory"),
            ("log-level", "LEVEL", "log level for stderr (default warning)"),
        ],
        switches: CommandSpec.helpAndVersion)

    public static let exitBusy: Int32 = 75
    public static let exitUnreachable: Int32 = 69

    static func run(_ arguments: [String], environment: Environment) throws(ConfigError) -> Never {
        let parsed = try spec.parseAnsweringHelp(arguments)
        var flags = parsed.values
        if flags["log-level"] == nil && environment["SUPER_AGENT_LOG_LEVEL"] == nil { flags["log-level"] = "warning" }
        let config = try Config.load(flags: flags, environment: environment)
        guard let task = flags["task"] else { throw .usage("super-agent run: --task is required; see super-agent run --help") }
        var wire: JSONObject = [
            "run_id": .string(RunTools.mintRunID()), "task": .string(task), "adapter": .string(flags["adapter"] ?? AccountingDispatcher.autoAdapter),
            "cwd_mode": .string(flags["cwd-mode"] ?? "isolated"),
        ]
        if let p = flags["prompt"] { wire["prompt"] = .string(p) }
        if let f = flags["prompt-file"] {
            wire["prompt_file"] = .string(f.hasPrefix("/") ? f : PoolWiring.currentDirectory() + "/" + f)
        }
        if let c = flags["caller-cwd"] {
            wire["caller_cwd"] = .string(c)
        } else if flags["cwd-mode"] == "caller" {
            wire["caller_cwd"] = .string(PoolWiring.currentDirectory())
        }
        if let m = flags["model"] { wire["model"] = .string(m) }
        if let t = flags["timeout"] {
            guard let n = Int(t) else { throw .usage("super-agent run: --timeout must be a whole number of seconds") }
            wire["timeout_s"] = JSON(n)
        }
        if let role = config.roleID { wire["caller_agent"] = .string(role) }
        let request: RunRequest
        do throws(RunRequestError) { request = try RunRequest(json: .object(wire)) } catch {
            let names = ["prompt": "--prompt", "prompt_file": "--prompt-file", "cwd_mode": "--cwd-mode", "caller_cwd": "--caller-cwd", "timeout_s": "--timeout", "task": "--task", "adapter": "--adapter", "model": "--model"]
            throw .usage("super-agent run: \(names[error.field] ?? error.field): \(error.problem)")
        }
        var waitSeconds = 0.0
        if let w = flags["wait"] {
            guard let n = Double(w), n >= 0 else { throw .usage("super-agent run: --wait must be a number of seconds") }
            waitSeconds = n
        }
        let logger = Logger(level: config.logLevel)
        let pool = try PoolWiring.make(config: config, environment: environment, logger: logger)
        let done = DispatchSemaphore(value: 0)
        let box = ResultBox()
        let work = Task {
            let result = await BusyRetry().submit(request, waitSeconds: waitSeconds, via: pool.dispatcher, events: { _ in })
            box.set(result)
            done.signal()
        }
        TerminationSignals.watch { _ in work.cancel() }
        done.wait()
        let result = box.get()!
        exitPrinting(result.json.text, code: code(for: result.status))
    }

    static func code(for status: RunStatus) -> Int32 {
        switch status {
        case .ok: 0
        case .poolBusy: exitBusy
        case .poolUnreachable: exitUnreachable
        default: 1
        }
    }
}

/// Hands a result from the run's task to the main thread.
final class ResultBox: Sendable {
    private let value = Mutex<RunResult?>(nil)
    func set(_ v: RunResult) { value.withLock { $0 = v } }
    func get() -> RunResult? { value.withLock { $0 } }
}
