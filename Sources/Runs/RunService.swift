import JSON
import Log
import Synchronization

/// Limits a pool applies to every run.
public struct RunLimits: Sendable, Equatable {
    /// Used when a request names no timeout.
    public var defaultTimeoutSeconds = 600
    /// The most a request may ask for; longer requests are capped (and the result says so).
    public var maxTimeoutSeconds = 3600
    /// Bytes kept of stdout and of stderr each.
    public var outputCapBytes = 1 << 20
    /// Between SIGTERM and SIGKILL when a run is stopped.
    public var killGrace = Duration.seconds(5)
    public var maxPromptBytes = RunRequest.maxPromptBytes

    public init() {}
}

/// The pool itself: checks a request, takes a slot, prepares the workspace, runs the adapter CLI,
/// reads its answer, and always gives the slot and the workspace back.
///
/// Serves the embedded pool (in `super-agent mcp` and `super-agent run`) and each `super-agent pool` pod.
public final class RunService: RunDispatcher {
    public let pod: String
    private let registry: any RunRegistry
    private let adapters: [String: AdapterSpec]
    private let workspaces: any WorkspaceProvider
    private let launcher: any ProcessLauncher
    private let resolver: any ProgramResolver
    /// Where allow-listed variables (PATH, API keys) are taken from.
    private let environment: [String: String]
    private let limits: RunLimits
    public let metrics: PoolMetrics
    private let logger: Logger
    /// Sends a run to the peer pod its slot landed on (shared registries only).
    private let forwarder: (any RunForwarder)?

    private struct Active {
        var request: RunRequest
        var lease: SlotLease
        var started: ContinuousClock.Instant
        var task: Task<ProcessOutcome, Never>?
        var cancelRequested = false
    }

    private struct State {
        var active: [String: Active] = [:]
        var draining = false
    }

    private let state = Mutex(State())

    public init(
        pod: String, registry: any RunRegistry, adapters: [AdapterSpec], workspaces: any WorkspaceProvider,
        launcher: any ProcessLauncher, resolver: any ProgramResolver, environment: [String: String], limits: RunLimits = RunLimits(),
        metrics: PoolMetrics = PoolMetrics(), logger: Logger, forwarder: (any RunForwarder)? = nil
    ) {
        self.forwarder = forwarder
        self.pod = pod
        self.registry = registry
        self.adapters = Dictionary(adapters.map { ($0.name, $0) }, uniquingKeysWith: { _, last in last })
        self.workspaces = workspaces
        self.launcher = launcher
        self.resolver = resolver
        self.environment = environment
        self.limits = limits
        self.metrics = metrics
        self.logger = logger
    }

    public var adapterNames: [String] { adapters.keys.sorted() }

    // MARK: RunDispatcher

    public func submit(_ request: RunRequest, events: @escaping @Sendable (RunEvent) -> Void) async -> RunResult {
        let result = await execute(request, events: events)
        // Runs that never started are counted but not timed.
        // A forwarded run is counted by the pod that ran it, not also by the one that forwarded it.
        if result.details["forwarded_by"] == nil {
            metrics.record(result.status, durationMs: result.started ? result.durationMs : nil)
        }
        logger.info(
            "run finished",
            [
                "run_id": .string(result.runID), "task": .string(result.task), "adapter": .string(result.adapter),
                "model": JSON(result.model), "status": .string(result.status.rawValue), "duration_ms": JSON(result.durationMs),
                "caller": JSON(request.callerAgent), "exit_code": JSON(result.exitCode),
            ])
        return result
    }

    public func cancel(runID: String) async -> Bool {
        let task: Task<ProcessOutcome, Never>?? = state.withLock { s in
            guard s.active[runID] != nil else { return nil }
            s.active[runID]!.cancelRequested = true
            return .some(s.active[runID]!.task)
        }
        guard let task else { return false }
        task?.cancel()
        return true
    }

    public func status() async -> PoolStatus {
        let leases = await registry.leases()
        let now = ContinuousClock.now
        let (active, draining) = state.withLock { ($0.active, $0.draining) }
        let runs = active.values.map { a in
            PoolStatus.ActiveRun(
                runID: a.request.runID, slot: a.lease.slot, task: a.request.task, adapter: a.request.adapter,
                callerAgent: a.request.callerAgent, elapsedMs: (now - a.started).milliseconds, pod: a.lease.pod)
        }.sorted { $0.slot < $1.slot }
        let health = await (registry as? any ClusterRunRegistry)?.health()
        return PoolStatus(
            pod: pod, slots: registry.slotCount, busy: leases.filter { $0.pod == pod }.count, draining: draining, runs: runs,
            registry: health)
    }

    // MARK: Draining

    /// Refuses new runs with POOL_DRAINING from now on; runs already admitted continue.
    public func beginDrain() { state.withLock { $0.draining = true } }

    public var isDraining: Bool { state.withLock { $0.draining } }

    public var activeCount: Int { state.withLock { $0.active.count } }

    /// Cancels every admitted run (their results come back CANCELLED).
    public func cancelAll() {
        let tasks = state.withLock { s in
            s.active.keys.forEach { s.active[$0]!.cancelRequested = true }
            return s.active.values.compactMap(\.task)
        }
        tasks.forEach { $0.cancel() }
    }

    // MARK: One run

    private func execute(_ request: RunRequest, events: @escaping @Sendable (RunEvent) -> Void) async -> RunResult {
        if isDraining {
            return .refused(.poolDraining, request, message: "pod \(pod) is shutting down and takes no new runs; retry on another pod", pod: pod)
        }
        guard let adapter = adapters[request.adapter] else {
            return .refused(.rejected, request, message: "adapter: unknown adapter \"\(request.adapter)\"; known: \(adapterNames.joined(separator: ", "))", pod: pod)
        }
        guard let program = adapter.argv.first, let executable = resolver.resolve(program, path: environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin")
        else {
            return .refused(.failed, request, message: "adapter \(adapter.name): program \"\(adapter.argv.first ?? "")\" was not found on the pool's PATH; install it or fix the adapter's argv", pod: pod)
        }
        var timeout = request.timeoutSeconds ?? limits.defaultTimeoutSeconds
        var notes: [String] = []
        if timeout > limits.maxTimeoutSeconds {
            notes.append("timeout_s \(timeout) was capped to the pool's limit of \(limits.maxTimeoutSeconds)")
            timeout = limits.maxTimeoutSeconds
        }
        let (model, modelNote) = adapter.chooseModel(hint: request.model)
        if let modelNote { notes.append(modelNote) }

        // Paths first: a rejected path means nothing runs and no slot is taken.
        var callerWorkspace: Workspace? = nil
        let promptBytes: [UInt8]
        do throws(PathRejection) {
            if request.cwdMode == .caller {
                guard let cwd = request.callerCwd else { throw PathRejection.notAbsolute("") }
                callerWorkspace = try workspaces.openCaller(cwd)
            }
            if let file = request.promptFile {
                promptBytes = try workspaces.readPromptFile(file, base: callerWorkspace, limit: limits.maxPromptBytes)
            } else {
                promptBytes = Array((request.prompt ?? "").utf8)
            }
        } catch {
            callerWorkspace?.close()
            let field = request.promptFile != nil && callerWorkspace != nil ? "prompt_file" : (request.cwdMode == .caller ? "caller_cwd" : "prompt_file")
            return .refused(.rejected, request, message: "\(field): \(error)", pod: pod)
        }

        if state.withLock({ $0.active[request.runID] != nil }) {
            callerWorkspace?.close()
            return .refused(.rejected, request, message: "run_id: a run with id \"\(request.runID)\" is already running on pod \(pod)", pod: pod)
        }
        // A slot, atomically; busy is flow control, not an error. A forwarded run brings its slot.
        let lease: SlotLease
        if let forwardedLease = request.lease {
            guard let cluster = registry as? any ClusterRunRegistry, forwardedLease.pod == pod, await cluster.adopt(forwardedLease) else {
                callerWorkspace?.close()
                return .refused(
                    .poolBusy, request, message: "the slot reserved on pod \(forwardedLease.pod) for this run is no longer held; retry",
                    pod: pod, retryAfterMs: 500)
            }
            lease = forwardedLease
        } else {
            switch await registry.acquire(runID: request.runID) {
            case .full(let retry):
                callerWorkspace?.close()
                return .refused(
                    .poolBusy, request, message: "every slot in the pool is busy; retry after \(retry) ms",
                    pod: pod, retryAfterMs: retry)
            case .granted(let l): lease = l
            }
        }
        if lease.pod != pod {
            callerWorkspace?.close()
            return await forward(request, lease: lease, events: events)
        }
        let started = ContinuousClock.now
        let admitted: Bool = state.withLock { s in
            guard s.active[request.runID] == nil else { return false }
            s.active[request.runID] = Active(request: request, lease: lease, started: started)
            return true
        }
        guard admitted else {
            await registry.release(lease)
            callerWorkspace?.close()
            return .refused(.rejected, request, message: "run_id: a run with id \"\(request.runID)\" is already running on pod \(pod)", pod: pod)
        }
        events(.accepted(runID: request.runID, pod: pod))

        // From here on every path goes through `finish`, which releases the slot and the workspace.
        let workspace: Workspace
        if let callerWorkspace {
            workspace = callerWorkspace
        } else {
            do throws(PathRejection) {
                workspace = try workspaces.makeIsolated(runID: request.runID)
            } catch {
                return await finish(
                    request, lease: lease, workspace: nil,
                    RunResult(
                        status: .failed, runID: request.runID, task: request.task, adapter: adapter.name, model: model, pod: pod,
                        message: "could not create the run's workspace: \(error)"))
            }
        }
        let text = String(decoding: promptBytes, as: UTF8.self)
        let spec = LaunchSpec(
            executable: executable, arguments: adapter.arguments(model: model, prompt: text),
            environment: RunEnvironment.make(for: adapter, source: environment, workspace: workspace.path, runID: request.runID),
            stdin: adapter.prompt == .stdin ? promptBytes : [], directory: workspace, timeout: .seconds(timeout),
            killGrace: limits.killGrace, outputCap: limits.outputCapBytes)
        let launcher = self.launcher
        let task = Task { await launcher.run(spec) }
        let cancelledEarly: Bool = state.withLock { s in
            s.active[request.runID]?.task = task
            return s.active[request.runID]?.cancelRequested ?? false
        }
        if cancelledEarly { task.cancel() }
        let outcome = await withTaskCancellationHandler { await task.value } onCancel: { task.cancel() }
        var result = Self.result(of: outcome, request: request, adapter: adapter, model: model, pod: pod, timeout: timeout)
        if !notes.isEmpty {
            result.message = ([result.message] + notes).filter { !$0.isEmpty }.joined(separator: "; ")
            result.details["notes"] = JSON(notes)
        }
        return await finish(request, lease: lease, workspace: workspace, result)
    }

    /// Hands a run to the peer whose slot it got; the peer adopts the lease and releases it when done.
    private func forward(_ request: RunRequest, lease: SlotLease, events: @escaping @Sendable (RunEvent) -> Void) async -> RunResult {
        guard let cluster = registry as? any ClusterRunRegistry, let forwarder, let url = await cluster.peerURL(for: lease.pod) else {
            await registry.release(lease)
            return .refused(
                .poolBusy, request, message: "the free slot is on pod \(lease.pod), which cannot be reached from here; retry",
                pod: pod, retryAfterMs: 500)
        }
        var forwarded = request
        forwarded.lease = lease
        logger.debug("forwarding run", ["run_id": .string(request.runID), "to": .string(lease.pod)])
        var result = await forwarder.forward(forwarded, to: url, events: events)
        // Always let go of the lease here: if the peer adopted it, it renews and releases it itself (and
        // this release cannot free its running slot); if it never did, the slot comes back now. Keeping
        // it would have this pod's heartbeat re-create a lease the peer already released.
        await registry.release(lease)
        if result.status == .poolUnreachable {
            result.status = .poolBusy
            result.retryAfterMs = 500
            result.message = "the free slot was on pod \(lease.pod), which did not answer (\(result.message)); retry"
        }
        result.details["forwarded_by"] = .string(pod)
        return result
    }

    private func finish(_ request: RunRequest, lease: SlotLease, workspace: Workspace?, _ result: RunResult) async -> RunResult {
        workspace?.close()
        state.withLock { _ = $0.active.removeValue(forKey: request.runID) }
        await registry.release(lease)
        return result
    }

    /// Maps how the child ended and what it printed to a result.
    static func result(of outcome: ProcessOutcome, request: RunRequest, adapter: AdapterSpec, model: String?, pod: String, timeout: Int) -> RunResult {
        var r = RunResult(
            status: .failed, runID: request.runID, task: request.task, adapter: adapter.name, model: model, pod: pod,
            durationMs: outcome.durationMs, confinement: outcome.confinement)
        let stderrTail = OutputFormat.tail(outcome.stderr.text)
        switch outcome.exit {
        case .exited(let code):
            r.exitCode = Int(code)
            let parsed = adapter.output.parse(stdout: outcome.stdout.text, stderr: outcome.stderr.text, exitCode: code)
            r.status = parsed.succeeded ? .ok : .failed
            r.output = parsed.output
            r.message = parsed.message ?? ""
            r.usage = parsed.usage
            r.costUSD = parsed.costUSD
            if let m = parsed.model { r.details["reported_model"] = .string(m) }
            for (k, v) in parsed.details { r.details[k] = v }
        case .signaled(let sig):
            r.output = outcome.stdout.text
            r.message = "the \(adapter.name) process died from signal \(sig)\(stderrTail.isEmpty ? "" : ": \(stderrTail)")"
            r.exitCode = 128 + Int(sig)
        case .timedOut:
            r.status = .timeout
            r.output = outcome.stdout.text
            r.message = "the run passed its \(timeout) s timeout and was stopped (SIGTERM, then SIGKILL); raise timeout_s or split the task"
        case .cancelled:
            r.status = .cancelled
            r.output = outcome.stdout.text
            r.message = "the run was cancelled and its processes killed"
        case .spawnFailed(let why):
            r.message = "could not start \(adapter.name): \(why)"
        }
        if outcome.stdout.droppedBytes > 0 { r.details["stdout_dropped_bytes"] = JSON(outcome.stdout.droppedBytes) }
        if r.status == .failed, !stderrTail.isEmpty { r.details["stderr_tail"] = .string(stderrTail) }
        return r
    }
}
