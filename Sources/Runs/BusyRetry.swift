/// Keeps trying a dispatch while the pool answers POOL_BUSY, until a deadline: exponential backoff
/// with full jitter, never sooner than the pool's `retry_after_ms`.
public struct BusyRetry: Sendable {
    public var baseMs = 250
    public var capMs = 10_000
    /// Returns a value in 0...upper; injectable so tests are deterministic.
    public var random: @Sendable (Int) -> Int = { upper in Int.random(in: 0...max(0, upper)) }

    public init() {}

    /// The wait before attempt `attempt` (0-based retries), honouring the pool's hint.
    public func delayMs(attempt: Int, retryAfterMs: Int?) -> Int {
        let exp = min(capMs, baseMs << min(attempt, 20))
        return max(retryAfterMs ?? 0, random(exp))
    }

    /// Submits until the answer is not POOL_BUSY or `waitSeconds` have passed; 0 answers at once.
    public func submit(
        _ request: RunRequest, waitSeconds: Double, via dispatcher: any RunDispatcher,
        events: @escaping @Sendable (RunEvent) -> Void, onBusy: @Sendable (Int, Int) -> Void = { _, _ in }
    ) async -> RunResult {
        let clock = ContinuousClock()
        let deadline = clock.now + .milliseconds(Int64(max(0, waitSeconds) * 1000))
        var attempt = 0
        while true {
            var result = await dispatcher.submit(request, events: events)
            guard result.status == .poolBusy, !Task.isCancelled else { return result }
            let delay = delayMs(attempt: attempt, retryAfterMs: result.retryAfterMs)
            let remaining = clock.now.duration(to: deadline)
            guard remaining > .milliseconds(delay) else {
                if attempt > 0 { result.message += " (still busy after \(attempt + 1) attempts over \(Int(waitSeconds)) s)" }
                return result
            }
            onBusy(attempt + 1, delay)
            do { try await Task.sleep(for: .milliseconds(delay)) } catch {
                return RunResult.refused(.cancelled, request, message: "cancelled while waiting for a free slot")
            }
            attempt += 1
        }
    }
}

/// Sends runs to a remote pool, and to the embedded one when the remote cannot be reached and the
/// fallback is allowed. The result says when the fallback was used.
public struct FallbackDispatcher: RunDispatcher {
    public let primary: any RunDispatcher
    public let fallback: (any RunDispatcher)?

    public init(primary: any RunDispatcher, fallback: (any RunDispatcher)?) {
        self.primary = primary
        self.fallback = fallback
    }

    public func submit(_ request: RunRequest, events: @escaping @Sendable (RunEvent) -> Void) async -> RunResult {
        let first = await primary.submit(request, events: events)
        guard first.status == .poolUnreachable, let fallback else { return first }
        var result = await fallback.submit(request, events: events)
        result.details["fallback"] = "inline"
        result.details["pool_error"] = .string(first.message)
        result.message = (["ran in the embedded pool because the remote pool was unreachable (\(first.message))", result.message])
            .filter { !$0.isEmpty }.joined(separator: "; ")
        return result
    }

    public func cancel(runID: String) async -> Bool {
        if await primary.cancel(runID: runID) { return true }
        return await fallback?.cancel(runID: runID) ?? false
    }

    public func status() async -> PoolStatus { await primary.status() }
}
