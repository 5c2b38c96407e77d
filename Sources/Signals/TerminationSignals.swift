#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Delivers SIGTERM and SIGINT to a Swift closure, with no window where a signal is lost.
///
/// The C handler is installed synchronously with `sigaction` and only writes the signal number to
/// a pipe (async-signal-safe); a dedicated thread reads the pipe and calls `handler`. A
/// `DispatchSource` would register asynchronously, so a signal arriving right after start-up could
/// be dropped.
public enum TerminationSignals {
    nonisolated(unsafe) private static var writeFD: Int32 = -1

    /// Installs the handlers once; `handler` runs on a background thread with the signal's name.
    public static func watch(_ handler: @escaping @Sendable (String) -> Void) {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { return }
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        writeFD = fds[1]
        let readFD = fds[0]
        signal(SIGPIPE, SIG_IGN)  // a vanished peer shows up as EPIPE, not a crash
        for sig in [SIGTERM, SIGINT] {
            var action = sigaction()
            #if canImport(Glibc)
            action.__sigaction_handler.sa_handler = { number in
                var byte = UInt8(truncatingIfNeeded: number)
                _ = write(TerminationSignals.writeFD, &byte, 1)
            }
            #else
            action.__sigaction_u.__sa_handler = { number in
                var byte = UInt8(truncatingIfNeeded: number)
                _ = write(TerminationSignals.writeFD, &byte, 1)
            }
            #endif
            sigemptyset(&action.sa_mask)
            action.sa_flags = SA_RESTART
            sigaction(sig, &action, nil)
        }
        let box = Box(handler: handler, fd: readFD)
        var thread = pthread_t()
        let raw = Unmanaged.passRetained(box).toOpaque()
        _ = pthread_create(&thread, nil, { arg in
            let box = Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue()
            var byte: UInt8 = 0
            while true {
                let n = read(box.fd, &byte, 1)
                if n == 1 { box.handler(Int32(byte) == SIGTERM ? "SIGTERM" : "SIGINT") }
                else if n < 0 && errno == EINTR { continue }
                else { return nil }
            }
        }, raw)
        pthread_detach(thread)
    }

    private final class Box: @unchecked Sendable {
        let handler: @Sendable (String) -> Void
        let fd: Int32
        init(handler: @escaping @Sendable (String) -> Void, fd: Int32) {
            self.handler = handler
            self.fd = fd
        }
    }
}
