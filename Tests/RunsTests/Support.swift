import JSON
import Log
import Runs
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Waiting without fixed sleeps

/// A thread-safe list that concurrent tasks append to.
final class Recorder<Element: Sendable>: Sendable {
    private let items = Mutex<[Element]>([])
    init() {}
    func append(_ e: Element) { items.withLock { $0.append(e) } }
    var all: [Element] { items.withLock { $0 } }
    var count: Int { items.withLock { $0.count } }
}

/// A one-shot flag.
final class Flag: Sendable {
    private let value = Mutex(false)
    init() {}
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}

// MARK: - Gate

/// Blocks waiters until opened. A waiting task that is cancelled stops waiting (`wait` returns
/// false). A failsafe opens the gate after a while, so a test whose code under test forgot to
/// cancel fails on its assertions instead of hanging.
final class Gate: Sendable {
    private struct State {
        var open = false
        var next = 0
        var waiters: [Int: CheckedContinuation<Bool, Never>] = [:]
    }
    private let state = Mutex(State())

    init(failsafe: Duration? = .seconds(5)) {
        if let failsafe {
            Task { [weak self] in
                try? await Task.sleep(for: failsafe)
                self?.open()
            }
        }
    }

    func open() {
        let waiters = state.withLock { s in
            s.open = true
            let w = Array(s.waiters.values)
            s.waiters = [:]
            return w
        }
        for w in waiters { w.resume(returning: true) }
    }

    /// True when the gate opened, false when the waiting task was cancelled first.
    func wait() async -> Bool {
        let id = state.withLock { s in
            s.next += 1
            return s.next
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
                let immediate: Bool? = state.withLock { s in
                    if s.open { return true }
                    if Task.isCancelled { return false }
                    s.waiters[id] = c
                    return nil
                }
                if let immediate { c.resume(returning: immediate) }
            }
        } onCancel: {
            let c = state.withLock { $0.waiters.removeValue(forKey: id) }
            c?.resume(returning: false)
        }
    }
}

// MARK: - FakeLauncher

/// What the fake launcher does for one run: optionally wait on a gate, optionally sleep, then
/// return `outcome`. Cancellation of the run's task at any point returns `.cancelled`.
struct Script: Sendable {
    var outcome: ProcessOutcome
    var delay: Duration? = nil
    var gate: Gate? = nil
}

/// A `ProcessLauncher` whose behaviour is scripted per run id (read from `SUPER_AGENT_RUN_ID`),
/// recording every `LaunchSpec` it got and how many runs it had at once.
final class FakeLauncher: ProcessLauncher {
    private struct State {
        var scripts: [String: Script] = [:]
        var fallback: Script
        var specs: [LaunchSpec] = []
        var running = 0
        var maxRunning = 0
        var returned: [String: ProcessExit] = [:]
    }
    private let state: Mutex<State>

    init(fallback: Script = Script(outcome: Outcomes.text("done"))) {
        state = Mutex(State(fallback: fallback))
    }

    func script(_ runID: String, _ script: Script) { state.withLock { $0.scripts[runID] = script } }
    func setFallback(_ script: Script) { state.withLock { $0.fallback = script } }

    var specs: [LaunchSpec] { state.withLock { $0.specs } }
    var launchedCount: Int { state.withLock { $0.specs.count } }
    var launchedRunIDs: [String] { specs.map { $0.environment["SUPER_AGENT_RUN_ID"] ?? "?" } }
    var maxRunning: Int { state.withLock { $0.maxRunning } }
    var running: Int { state.withLock { $0.running } }
    func spec(for runID: String) -> LaunchSpec? { specs.first { $0.environment["SUPER_AGENT_RUN_ID"] == runID } }
    func returned(_ runID: String) -> ProcessExit? { state.withLock { $0.returned[runID] } }

    func run(_ spec: LaunchSpec) async -> ProcessOutcome {
        let runID = spec.environment["SUPER_AGENT_RUN_ID"] ?? ""
        let script = state.withLock { s in
            s.specs.append(spec)
            s.running += 1
            s.maxRunning = max(s.maxRunning, s.running)
            return s.scripts[runID] ?? s.fallback
        }
        let outcome = await perform(script)
        state.withLock { s in
            s.running -= 1
            s.returned[runID] = outcome.exit
        }
        return outcome
    }

    private func perform(_ script: Script) async -> ProcessOutcome {
        let cancelled = ProcessOutcome(exit: .cancelled, durationMs: 1)
        if Task.isCancelled { return cancelled }
        if let gate = script.gate, !(await gate.wait()) { return cancelled }
        if let delay = script.delay {
            do { try await Task.sleep(for: delay) } catch { return cancelled }
        }
        if Task.isCancelled { return cancelled }
        return script.outcome
    }
}

// MARK: - FakeWorkspaces

/// Isolated workspaces live at `/scratch/<run id>`; caller paths are accepted under `/ok` only;
/// prompt files come from a dictionary of absolute paths.
final class FakeWorkspaces: WorkspaceProvider {
    static let root = "/ok"

    private struct State {
        var opened: [(path: String, ephemeral: Bool)] = []
        var closes: [Int: Int] = [:]
        var failIsolated: Set<String> = []
        var onMakeIsolated: (@Sendable (String) -> Void)? = nil
    }
    private let state = Mutex(State())
    private let prompts: [String: [UInt8]]

    init(prompts: [String: [UInt8]] = [:]) { self.prompts = prompts }

    /// `makeIsolated` for this run id throws.
    func failIsolated(_ runID: String) { state.withLock { _ = $0.failIsolated.insert(runID) } }
    /// Called (synchronously) inside `makeIsolated`, before it returns.
    func onMakeIsolated(_ hook: @escaping @Sendable (String) -> Void) { state.withLock { $0.onMakeIsolated = hook } }

    var openedCount: Int { state.withLock { $0.opened.count } }
    var openedPaths: [String] { state.withLock { $0.opened.map(\.path) } }
    /// Close counts, one per workspace handed out, in order.
    var closeCounts: [Int] { state.withLock { s in s.opened.indices.map { s.closes[$0] ?? 0 } } }
    var everyWorkspaceClosedExactlyOnce: Bool { closeCounts.allSatisfy { $0 == 1 } }

    private func make(_ path: String, ephemeral: Bool) -> Workspace {
        let id = state.withLock { s in
            s.opened.append((path, ephemeral))
            return s.opened.count - 1
        }
        return Workspace(path: path, descriptor: -1, isEphemeral: ephemeral) { [self] in
            self.state.withLock { $0.closes[id, default: 0] += 1 }
        }
    }

    private static func inside(_ path: String) -> Bool { path == root || path.hasPrefix(root + "/") }

    func makeIsolated(runID: String) throws(PathRejection) -> Workspace {
        let (fail, hook) = state.withLock { ($0.failIsolated.contains(runID), $0.onMakeIsolated) }
        hook?(runID)
        if fail { throw PathRejection.io(path: "/scratch/\(runID)", reason: "No space left on device") }
        return make("/scratch/\(runID)", ephemeral: true)
    }

    func openCaller(_ path: String) throws(PathRejection) -> Workspace {
        guard path.hasPrefix("/") else { throw PathRejection.notAbsolute(path) }
        guard Self.inside(path) else { throw PathRejection.outsideWorkspace(path: path, roots: [Self.root]) }
        return make(path, ephemeral: false)
    }

    func readPromptFile(_ path: String, base: Workspace?, limit: Int) throws(PathRejection) -> [UInt8] {
        let full: String
        if path.hasPrefix("/") {
            full = path
        } else if let base {
            full = base.path + "/" + path
        } else {
            throw PathRejection.notAbsolute(path)
        }
        let root = base?.path ?? Self.root
        guard full.hasPrefix(root + "/") else { throw PathRejection.outsideWorkspace(path: full, roots: [root]) }
        guard let bytes = prompts[full] else { throw PathRejection.notFound(full) }
        guard bytes.count <= limit else { throw PathRejection.tooLarge(path: full, bytes: bytes.count, limit: limit) }
        return bytes
    }
}

// MARK: - FakeResolver

/// Resolves the names in a set to `/usr/bin/<name>`; records the PATH it was asked with.
final class FakeResolver: ProgramResolver {
    private let names: Set<String>
    private let paths = Mutex<[String]>([])
    init(_ names: Set<String>) { self.names = names }
    var pathsSeen: [String] { paths.withLock { $0 } }
    func resolve(_ name: String, path: String) -> String? {
        paths.withLock { $0.append(path) }
        return names.contains(name) ? "/usr/bin/\(name)" : nil
    }
}

// MARK: - CountingRegistry

/// A `LocalRunRegistry` that counts acquires, grants and releases.
final class CountingRegistry: RunRegistry {
    let inner: LocalRunRegistry
    private let counts = Mutex((acquires: 0, grants: 0, releases: 0))
    init(slots: Int, pod: String, retryAfterMs: Int) { inner = LocalRunRegistry(slots: slots, pod: pod, retryAfterMs: retryAfterMs) }
    var slotCount: Int { inner.slotCount }
    var acquires: Int { counts.withLock { $0.acquires } }
    var grants: Int { counts.withLock { $0.grants } }
    var releases: Int { counts.withLock { $0.releases } }
    func acquire(runID: String) async -> Admission {
        let a = await inner.acquire(runID: runID)
        counts.withLock { c in
            c.acquires += 1
            if case .granted = a { c.grants += 1 }
        }
        return a
    }
    func release(_ lease: SlotLease) async {
        counts.withLock { $0.releases += 1 }
        await inner.release(lease)
    }
    func leases() async -> [SlotLease] { await inner.leases() }
}

// MARK: - Fixtures

enum Outcomes {
    static func exited(_ code: Int32, stdout: String = "", stderr: String = "", ms: Int = 42) -> ProcessOutcome {
        ProcessOutcome(
            exit: .exited(code), stdout: CapturedOutput(bytes: Array(stdout.utf8)), stderr: CapturedOutput(bytes: Array(stderr.utf8)),
            durationMs: ms, confinement: "landlock")
    }
    static func text(_ stdout: String, ms: Int = 42) -> ProcessOutcome { exited(0, stdout: stdout, ms: ms) }
    static func exit(_ exit: ProcessExit, stdout: String = "", stderr: String = "", ms: Int = 42) -> ProcessOutcome {
        ProcessOutcome(
            exit: exit, stdout: CapturedOutput(bytes: Array(stdout.utf8)), stderr: CapturedOutput(bytes: Array(stderr.utf8)),
            durationMs: ms, confinement: "landlock")
    }
}

enum Fixtures {
    static let claudeSuccess = #"""
        {"type":"result","subtype":"success","is_error":false,"duration_ms":1234,"duration_api_ms":1000,"num_turns":2,"result":"hi","session_id":"abc","total_cost_usd":0.0123,"usage":{"input_tokens":10,"cache_creation_input_tokens":5,"cache_read_input_tokens":20,"output_tokens":7}}
        """#

    static let claudeError = #"""
        {"type":"result","subtype":"error_during_execution","is_error":true,"duration_ms":800,"duration_api_ms":700,"num_turns":1,"result":"API Error: 529 {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}","session_id":"def","total_cost_usd":0.001,"usage":{"input_tokens":3,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":0}}
        """#

    /// gemini-cli prints its JSON pretty-printed (JSON.stringify(output, null, 2)).
    static let geminiSuccess = #"""
        {
          "response": "The answer is 4.",
          "stats": {
            "models": {
              "gemini-2.5-flash": {
                "api": {"totalRequests": 1, "totalErrors": 0, "totalLatencyMs": 1830},
                "tokens": {"prompt": 100, "candidates": 20, "total": 130, "cached": 5, "thoughts": 10, "tool": 0}
              }
            },
            "tools": {"totalCalls": 0, "totalSuccess": 0, "totalFail": 0, "totalDurationMs": 0,
                      "totalDecisions": {"accept": 0, "reject": 0, "modify": 0, "auto_accept": 0}, "byName": {}},
            "files": {"totalLinesAdded": 0, "totalLinesRemoved": 0}
          }
        }
        """#

    static func geminiError(code: Int, message: String) -> String {
        """
        {
          "error": {
            "type": "\(code == 42 ? "FatalInputError" : code == 53 ? "FatalTurnLimitedError" : "Error")",
            "message": "\(message)",
            "code": \(code)
          }
        }
        """
    }

    static let codexSuccess = """
        {"type":"thread.started","thread_id":"0199a213-81c0-7800-8aa1-bbab2a035a53"}
        {"type":"turn.started"}
        {"type":"item.completed","item":{"id":"item_0","type":"reasoning","text":"**Listing files**"}}
        {"type":"item.started","item":{"id":"item_1","type":"command_execution","command":"bash -lc ls","aggregated_output":"","exit_code":null,"status":"in_progress"}}
        {"type":"item.completed","item":{"id":"item_1","type":"command_execution","command":"bash -lc ls","aggregated_output":"docs\\nsdk\\n","exit_code":0,"status":"completed"}}
        {"type":"item.completed","item":{"id":"item_2","type":"agent_message","text":"Looking at the repo."}}
        {"type":"item.completed","item":{"id":"item_3","type":"agent_message","text":"Repo contains docs and sdk."}}
        {"type":"turn.completed","usage":{"input_tokens":24763,"cached_input_tokens":24448,"output_tokens":122}}

        """

    static let codexTurnFailed = """
        {"type":"thread.started","thread_id":"t-2"}
        {"type":"turn.started"}
        {"type":"turn.failed","error":{"message":"stream disconnected before completion: rate limit exceeded"}}

        """
}

enum TestAdapters {
    /// Takes the prompt as its last argument.
    static let echo = AdapterSpec(
        name: "echo", argv: ["echo", "-n"], prompt: .argument, modelFlag: nil, models: [], defaultModel: nil, passEnv: [],
        output: .text)
}

enum TestEnv {
    static let source: [String: String] = [
        "PATH": "/opt/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "TZ": "UTC", "HOME": "/root", "TMPDIR": "/var/tmp", "USER": "root",
        "SECRET": "hunter2", "AWS_SECRET_ACCESS_KEY": "aws", "ANTHROPIC_API_KEY": "sk-ant-test", "GEMINI_API_KEY": "gm-test",
        "OPENAI_API_KEY": "sk-openai-test",
    ]
}

// MARK: - A RunService over the fakes

struct Harness {
    static let pod = "pod-a"
    let launcher: FakeLauncher
    let workspaces: FakeWorkspaces
    let registry: CountingRegistry
    let resolver: FakeResolver
    let service: RunService

    init(
        slots: Int = 3, retryAfterMs: Int = 1500, adapters: [AdapterSpec] = AdapterSpec.defaults + [TestAdapters.echo],
        programs: Set<String> = ["claude", "gemini", "codex", "sh", "echo"], environment: [String: String] = TestEnv.source,
        limits: RunLimits = RunLimits(), prompts: [String: [UInt8]] = [:], fallback: Script = Script(outcome: Outcomes.text("done"))
    ) {
        launcher = FakeLauncher(fallback: fallback)
        workspaces = FakeWorkspaces(prompts: prompts)
        registry = CountingRegistry(slots: slots, pod: Self.pod, retryAfterMs: retryAfterMs)
        resolver = FakeResolver(programs)
        service = RunService(
            pod: Self.pod, registry: registry, adapters: adapters, workspaces: workspaces, launcher: launcher, resolver: resolver,
            environment: environment, limits: limits, logger: .discard)
    }

    /// Submits and returns the result with the events seen.
    func run(_ request: RunRequest) async -> (RunResult, [RunEvent]) {
        let events = Recorder<RunEvent>()
        let result = await service.submit(request) { events.append($0) }
        return (result, events.all)
    }

    /// Nothing left behind: no busy slot, no active run, every slot acquired was released, every
    /// workspace handed out was closed exactly once.
    func isClean() async -> Bool {
        let status = await service.status()
        return status.busy == 0 && status.runs.isEmpty && service.activeCount == 0 && registry.grants == registry.releases
            && workspaces.everyWorkspaceClosedExactlyOnce
    }
}

func request(
    _ runID: String, adapter: String = "command", prompt: String? = "hello", promptFile: String? = nil, model: String? = nil,
    cwdMode: CwdMode = .isolated, callerCwd: String? = nil, timeout: Int? = nil, caller: String? = nil
) -> RunRequest {
    RunRequest(
        runID: runID, task: "task-\(runID)", prompt: prompt, promptFile: promptFile, adapter: adapter, model: model, cwdMode: cwdMode,
        callerCwd: callerCwd, timeoutSeconds: timeout, callerAgent: caller)
}

extension RunEvent {
    var acceptedRunID: String? {
        if case .accepted(let id, _) = self { return id }
        return nil
    }
}
