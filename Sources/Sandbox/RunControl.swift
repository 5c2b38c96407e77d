#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The cancellation channel between a Swift task and its run's I/O thread: a flag plus an
/// eventfd that wakes the thread's poll. The descriptor is only written and closed under the
/// lock, so a late cancel can never write into a descriptor number that has been reused.
final class RunControl: Sendable {
    private struct State {
        var cancelled = false
        var wakeFD: Int32 = -1
    }

    private let state = Mutex(State())

    var isCancelled: Bool { state.withLock { $0.cancelled } }

    func cancel() {
        state.withLock { state in
            state.cancelled = true
            if state.wakeFD >= 0 {
                var one: UInt64 = 1
                _ = Glibc.write(state.wakeFD, &one, 8)
            }
        }
    }

    /// Installs the wake descriptor (owned from now on by this object).
    func attach(_ fd: Int32) {
        state.withLock { $0.wakeFD = fd }
    }

    /// Closes the wake descriptor; later cancels only set the flag.
    func detach() {
        state.withLock { state in
            if state.wakeFD >= 0 { Sys.close(state.wakeFD) }
            state.wakeFD = -1
        }
    }
}

/// Runs a closure on a fresh detached pthread with every signal blocked, so process signals go
/// to other threads and a SIGPIPE from writing a child's stdin stays pending here (harmless)
/// instead of killing the process.
enum BlockingThread {
    private final class Box {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }

    static func start(_ body: @escaping @Sendable () -> Void) -> Bool {
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        let raw = Unmanaged.passRetained(Box(body)).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(&thread, &attributes, { argument in
            let box = Unmanaged<Box>.fromOpaque(argument!).takeRetainedValue()
            var all = sigset_t()
            sigfillset(&all)
            pthread_sigmask(SIG_BLOCK, &all, nil)
            box.body()
            return nil
        }, raw)
        if result != 0 {
            Unmanaged<Box>.fromOpaque(raw).release()
            return false
        }
        return true
    }
}
