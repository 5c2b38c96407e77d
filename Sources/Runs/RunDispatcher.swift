import JSON

/// Somewhere runs can be sent: the in-process pool (`RunService`) or a remote one over HTTP.
///
/// The MCP tool and `super-agent run` talk to this; the pool's HTTP server serves one.
public protocol RunDispatcher: Sendable {
    /// Runs `request` to its end and returns its result; `events` sees `accepted` and `progress` as
    /// they happen (never the result, which is returned). Cancelling the calling task cancels the run.
    /// Never throws: every failure, including an unreachable pool, is a `RunResult` status.
    func submit(_ request: RunRequest, events: @escaping @Sendable (RunEvent) -> Void) async -> RunResult
    /// Cancels a run by id wherever it is in its life; false when no such run is known.
    func cancel(runID: String) async -> Bool
    /// Slots, busy slots and the runs holding them.
    func status() async -> PoolStatus
}

/// A snapshot of a pool for `/v1/status` and the status tools.
public struct PoolStatus: Sendable, Equatable {
    public struct ActiveRun: Sendable, Equatable {
        public var runID: String
        public var slot: Int
        public var task: String
        public var adapter: String
        public var callerAgent: String?
        public var elapsedMs: Int
        public var pod: String

        public init(runID: String, slot: Int, task: String, adapter: String, callerAgent: String?, elapsedMs: Int, pod: String) {
            self.runID = runID
            self.slot = slot
            self.task = task
            self.adapter = adapter
            self.callerAgent = callerAgent
            self.elapsedMs = elapsedMs
            self.pod = pod
        }
    }

    public var pod: String
    public var slots: Int
    public var busy: Int
    public var draining: Bool
    public var runs: [ActiveRun]
    /// How the slot registry is doing (shared through Redis, degraded, or local).
    public var registry: RegistryHealth?

    public init(pod: String, slots: Int, busy: Int, draining: Bool, runs: [ActiveRun], registry: RegistryHealth? = nil) {
        self.registry = registry
        self.pod = pod
        self.slots = slots
        self.busy = busy
        self.draining = draining
        self.runs = runs
    }

    public var json: JSON {
        var o: JSONObject = [
            "pod": .string(pod), "slots": JSON(slots), "busy": JSON(busy), "free": JSON(max(0, slots - busy)),
            "draining": .bool(draining),
            "runs": .array(
                runs.map {
                    [
                        "run_id": .string($0.runID), "slot": JSON($0.slot), "task": .string($0.task),
                        "adapter": .string($0.adapter), "caller_agent": JSON($0.callerAgent),
                        "elapsed_ms": JSON($0.elapsedMs), "pod": .string($0.pod),
                    ]
                }),
        ]
        if let registry {
            o["registry"] = ["mode": .string(registry.mode.rawValue), "detail": .string(registry.detail), "live_pods": JSON(registry.livePods)]
        }
        return .object(o)
    }

    public init?(json: JSON) {
        guard let pod = json["pod"]?.stringValue, let slots = json["slots"]?.exactInteger, let busy = json["busy"]?.exactInteger
        else { return nil }
        let runs: [ActiveRun] = (json["runs"]?.arrayValue ?? []).compactMap { r in
            guard let id = r["run_id"]?.stringValue else { return nil }
            return ActiveRun(
                runID: id, slot: Int(r["slot"]?.exactInteger ?? 0), task: r["task"]?.stringValue ?? "",
                adapter: r["adapter"]?.stringValue ?? "", callerAgent: r["caller_agent"]?.stringValue,
                elapsedMs: Int(r["elapsed_ms"]?.exactInteger ?? 0), pod: r["pod"]?.stringValue ?? pod)
        }
        var health: RegistryHealth? = nil
        if let r = json["registry"], let mode = r["mode"]?.stringValue.flatMap(RegistryHealth.Mode.init(rawValue:)) {
            health = RegistryHealth(mode: mode, detail: r["detail"]?.stringValue ?? "", livePods: Int(r["live_pods"]?.exactInteger ?? 1))
        }
        self.init(pod: pod, slots: Int(slots), busy: Int(busy), draining: json["draining"]?.boolValue ?? false, runs: runs, registry: health)
    }
}

/// Sends a run to the peer pod that holds its slot, passing the peer's event stream through.
public protocol RunForwarder: Sendable {
    func forward(_ request: RunRequest, to baseURL: String, events: @escaping @Sendable (RunEvent) -> Void) async -> RunResult
}
