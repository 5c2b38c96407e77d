#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Raw file-descriptor I/O shared by the logger (stderr) and the MCP stdio transport (stdin, stdout),
/// which may be handed non-blocking descriptors by their parent.
public enum DescriptorIO {
    /// Writes all of `bytes` to `fd`, retrying after EINTR and waiting in `poll(2)` while a
    /// non-blocking descriptor is full. False on any other error (EPIPE: the reader went away).
    public static func writeWhole(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n >= 0 {
                offset += n
            } else if errno == EAGAIN || errno == EWOULDBLOCK {
                waitUntilReady(fd, for: Int16(POLLOUT))
            } else if errno != EINTR {
                return false
            }
        }
        return true
    }

    /// Sleeps until `fd` is ready for `events` (or hung up, or in error: the next read or write says
    /// which). If `poll(2)` itself fails, backs off 1 ms rather than let the caller spin.
    public static func waitUntilReady(_ fd: Int32, for events: Int16) {
        var pfd = pollfd(fd: fd, events: events, revents: 0)
        while poll(&pfd, 1, -1) < 0 {
            if errno != EINTR {
                usleep(1_000)
                return
            }
        }
    }
}
