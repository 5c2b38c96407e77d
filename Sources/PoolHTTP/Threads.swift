import Runs

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Nanoseconds on the monotonic clock, for deadlines that wall-clock jumps cannot move.
func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// A pthread mutex with a condition variable on the monotonic clock.
///
/// The HTTP server's handlers run on libmicrohttpd's own threads and the client's transfers on
/// threads of their own, so they can block here without starving Swift's cooperative pool.
final class ConditionLock: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init() {
        pthread_mutex_init(mutex, nil)
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        pthread_cond_init(cond, &attr)
        pthread_condattr_destroy(&attr)
    }

    deinit {
        pthread_cond_destroy(cond)
        pthread_mutex_destroy(mutex)
        cond.deallocate()
        mutex.deallocate()
    }

    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }

    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }

    /// Wakes every waiter; call with or without the lock held.
    func broadcast() { pthread_cond_broadcast(cond) }

    /// Waits (lock held) until woken or the monotonic `deadline` (nanoseconds) passes.
    func wait(until deadline: UInt64) {
        var ts = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        _ = pthread_cond_timedwait(cond, mutex, &ts)
    }
}

/// Runs `body` on a new detached thread of its own (never on the cooperative pool).
func spawnThread(_ body: @escaping @Sendable () -> Void) {
    final class Box {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    var attr = pthread_attr_t()
    pthread_attr_init(&attr)
    pthread_attr_setdetachstate(&attr, Int32(PTHREAD_CREATE_DETACHED))
    var thread = pthread_t()
    let rc = pthread_create(
        &thread, &attr,
        { raw in
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            box.body()
            return nil
        }, box)
    pthread_attr_destroy(&attr)
    if rc != 0 {
        // No thread: run inline rather than lose the work.
        Unmanaged<Box>.fromOpaque(box).takeRetainedValue().body()
    }
}

/// A value produced once by async code and awaited by a blocking (non-cooperative) thread.
final class BlockingResult<T: Sendable>: @unchecked Sendable {
    private let lock = ConditionLock()
    private var value: T?

    func set(_ v: T) {
        lock.withLock { value = v }
        lock.broadcast()
    }

    /// Waits until the value is set or `timeout` passes (`nil` then), checking `giveUp` each 100 ms.
    func wait(timeout: Duration, giveUp: () -> Bool = { false }) -> T? {
        let deadline = monotonicNanos() + timeout.nanoseconds
        lock.lock()
        defer { lock.unlock() }
        while value == nil {
            let now = monotonicNanos()
            if now >= deadline || giveUp() { return nil }
            lock.wait(until: min(deadline, now + 100_000_000))
        }
        return value
    }
}

/// Runs async `operation` in a task and blocks this (non-cooperative) thread until it answers,
/// `timeout` passes, or `giveUp` says so; the task is cancelled when nobody waits any more.
func runBlocking<T: Sendable>(
    timeout: Duration, giveUp: @escaping () -> Bool = { false }, _ operation: @escaping @Sendable () async -> T
) -> T? {
    let box = BlockingResult<T>()
    let task = Task { box.set(await operation()) }
    let value = box.wait(timeout: timeout, giveUp: giveUp)
    if value == nil { task.cancel() }
    return value
}
