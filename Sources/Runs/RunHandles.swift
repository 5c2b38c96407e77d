import Synchronization

/// A Mutex that closures can capture (Mutex itself is not copyable).
final class Shared<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
}

/// Runs started with `wait: false`, so an agent can poll, collect or cancel them later.
///
/// Finished results are kept for `retention` (default 1 h, at most `capacity` of them), so a
/// result is not lost because the agent looked a little late.
public final class RunHandles: Sendable {
    public struct Entry: Sendable {
        public var request: RunRequest
        public var started: ContinuousClock.Instant
        public var task: Task<RunResult, Never>
        public var result: RunResult?
        public var finished: ContinuousClock.Instant?
        public var lastEvent: RunEvent?
    }

    private let entries = Shared<[String: Entry]>([:])
    private let retention: Duration
    private let capacity: Int

    public init(retention: Duration = .seconds(3600), capacity: Int = 1024) {
        self.retention = retention
        self.capacity = capacity
    }

    /// Starts `body` in the background under `request.runID`; false when that id is already known.
    public func start(_ request: RunRequest, _ body: @escaping @Sendable (@escaping @Sendable (RunEvent) -> Void) async -> RunResult) -> Bool {
        prune()
        return entries.withLock { e in
            guard e[request.runID] == nil else { return false }
            let id = request.runID
            let task = Task { [entries = self.entries] in
                let result = await body { event in entries.withLock { $0[id]?.lastEvent = event } }
                entries.withLock {
                    $0[id]?.result = result
                    $0[id]?.finished = .now
                }
                return result
            }
            e[id] = Entry(request: request, started: .now, task: task)
            return true
        }
    }

    public func entry(_ runID: String) -> Entry? { entries.withLock { $0[runID] } }

    /// Waits up to `waitSeconds` for the run's result; nil when unknown, the entry (maybe still
    /// running) otherwise. Returns early when the calling task is cancelled.
    public func result(_ runID: String, waitSeconds: Double) async -> Entry? {
        let deadline = ContinuousClock.now + .milliseconds(Int64(max(0, waitSeconds) * 1000))
        while let e = entry(runID) {
            if e.result != nil || ContinuousClock.now >= deadline || Task.isCancelled { return e }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }

    /// Cancels every background run still going (at shutdown), and waits up to `grace` for them to end.
    public func cancelAll(grace: Duration = .milliseconds(400)) async {
        entries.withLock { $0.values.filter { $0.result == nil }.map(\.task) }.forEach { $0.cancel() }
        let deadline = ContinuousClock.now + grace
        while ContinuousClock.now < deadline, entries.withLock({ e in e.values.contains { $0.result == nil } }) {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Cancels a background run; false when unknown or already finished.
    public func cancel(_ runID: String) -> Bool {
        guard let e = entry(runID), e.result == nil else { return false }
        e.task.cancel()
        return true
    }

    private func prune() {
        let now = ContinuousClock.now
        entries.withLock { e in
            for (id, entry) in e {
                if let f = entry.finished, f.duration(to: now) > retention { e[id] = nil }
            }
            if e.count >= capacity {
                let finished = e.filter { $0.value.finished != nil }.sorted { $0.value.finished! < $1.value.finished! }
                for (id, _) in finished.prefix(e.count - capacity + 1) { e[id] = nil }
            }
        }
    }
}
