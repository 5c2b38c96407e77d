import JSON
import Runs

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One `POST /v1/runs` in flight: the submit task's events and result on one side, the
/// connection thread writing NDJSON on the other.
///
/// Everything mutable is guarded by `lock`; the connection thread blocks on it (it is one of
/// libmicrohttpd's per-connection threads, never a cooperative one).
final class RunStream: @unchecked Sendable {
    /// What arrived first, which decides between a stream and a plain refusal.
    enum First {
        case event
        case result(RunResult)
    }

    /// Why the writer stopped waiting.
    enum Interrupt: Equatable {
        case peerClosed
        case stopping
    }

    let runID: String
    let fd: Int32
    private let started = monotonicNanos()
    private let progressInterval: UInt64
    private let lock = ConditionLock()

    // Guarded by `lock`.
    private var pending: [UInt8] = []
    private var pendingStart = 0
    private var sawEvent = false
    private var result: RunResult?
    private var resultQueued = false
    private var aborted = false
    private var task: Task<Void, Never>?
    private var nextProgress: UInt64 = 0

    private let stopping: StopFlag

    init(runID: String, fd: Int32, progressInterval: Duration, stopping: StopFlag) {
        self.runID = runID
        self.fd = fd
        self.stopping = stopping
        self.progressInterval = max(progressInterval.nanoseconds, 1_000_000)
    }

    var elapsedMs: Int { Int((monotonicNanos() - started) / 1_000_000) }

    /// Adopts the submit task; cancels it at once if the client is already gone.
    func attach(_ task: Task<Void, Never>) {
        let cancelNow = lock.withLock {
            self.task = task
            return aborted
        }
        if cancelNow { task.cancel() }
    }

    /// From the dispatcher's events callback: `accepted`/`progress` become lines; anything after
    /// the result (or a stray `result` event, which `submit` returns instead) is ignored.
    func push(_ event: RunEvent) {
        if case .result = event { return }
        lock.withLock {
            guard result == nil, !aborted else { return }
            if !sawEvent {
                sawEvent = true
                nextProgress = monotonicNanos() + progressInterval
            }
            appendLine(event.json)
        }
        lock.broadcast()
    }

    /// From the submit task when `submit` returned.
    func finish(_ r: RunResult) {
        lock.withLock {
            guard result == nil else { return }
            result = r
        }
        lock.broadcast()
    }

    /// The client went away (or the server stopped): cancel the run so its slot frees.
    /// Returns whether the run was still going.
    @discardableResult
    func abort() -> Bool {
        let (task, wasRunning): (Task<Void, Never>?, Bool) = lock.withLock {
            let running = !aborted && result == nil
            aborted = true
            return (self.task, running)
        }
        lock.broadcast()
        if wasRunning { task?.cancel() }
        return wasRunning
    }

    var isFinished: Bool { lock.withLock { result != nil } }

    /// Blocks until the first event or the result, or until the peer hangs up or the server stops.
    func waitForFirst() -> Result<First, InterruptError> {
        lock.lock()
        defer { lock.unlock() }
        while true {
            if sawEvent { return .success(.event) }
            if let result { return .success(.result(result)) }
            if stopping.isSet { return .failure(InterruptError(reason: .stopping)) }
            if aborted || peerClosed() { return .failure(InterruptError(reason: .peerClosed)) }
            lock.wait(until: monotonicNanos() + 100_000_000)
        }
    }

    struct InterruptError: Error { let reason: Interrupt }

    /// libmicrohttpd's content reader: copies the next bytes of NDJSON into `buffer`, blocking
    /// until there are some. Emits the server's own `progress` every interval. Returns the byte
    /// count, -1 at the end of the stream, -2 to drop the connection.
    func read(into buffer: UnsafeMutablePointer<CChar>, max: Int) -> Int {
        lock.lock()
        defer { lock.unlock() }
        while true {
            if pendingStart < pending.count {
                let n = min(max, pending.count - pendingStart)
                pending.withUnsafeBytes { raw in
                    UnsafeMutableRawPointer(buffer).copyMemory(from: raw.baseAddress! + pendingStart, byteCount: n)
                }
                pendingStart += n
                if pendingStart == pending.count {
                    pending.removeAll(keepingCapacity: true)
                    pendingStart = 0
                }
                return n
            }
            if resultQueued { return -1 }
            if let result {
                appendLine(RunEvent.result(result).json)
                resultQueued = true
                continue
            }
            if stopping.isSet || aborted { return -2 }
            let now = monotonicNanos()
            if nextProgress == 0 { nextProgress = now + progressInterval }
            if now >= nextProgress {
                appendLine(RunEvent.progress(runID: runID, elapsedMs: elapsedMs).json)
                nextProgress = now + progressInterval
                continue
            }
            if peerClosed() { return -2 }
            lock.wait(until: Swift.min(nextProgress, now + 100_000_000))
        }
    }

    /// Lines for a result that arrived before any event (a stream holding only the result).
    func queueResultOnly() {
        lock.withLock {
            if let result, !resultQueued {
                appendLine(RunEvent.result(result).json)
                resultQueued = true
            }
        }
    }

    private func appendLine(_ json: JSON) {
        pending.append(contentsOf: json.text.utf8)
        pending.append(0x0A)
    }

    /// Whether the client hung up: a zero-byte peek means it sent FIN, an error means a reset.
    /// Pending bytes (a pipelined request) or nothing yet both mean it is still there.
    private func peerClosed() -> Bool {
        guard fd >= 0 else { return false }
        var byte: UInt8 = 0
        let n = recv(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
        if n == 0 { return true }
        if n < 0 {
            let e = errno
            return !(e == EAGAIN || e == EWOULDBLOCK || e == EINTR)
        }
        return false
    }
}
