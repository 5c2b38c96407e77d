import JSON
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where the server's protocol messages go. Implementations must write each message whole.
public protocol MessageSink: Sendable {
    func send(_ message: JSON)
}

/// Writes newline-delimited messages to a file descriptor (stdout for `super-agent mcp`).
///
/// One lock around each complete write keeps concurrent responses from interleaving.
public final class FileDescriptorSink: MessageSink {
    private let fd: Int32
    private let lock = Mutex(false)  // true once the peer has gone away

    public init(fd: Int32) { self.fd = fd }

    public func send(_ message: JSON) {
        var bytes = (try? message.serialized()) ?? Array(message.text.utf8)
        bytes.append(0x0A)
        lock.withLock { broken in
            guard !broken else { return }
            bytes.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                    if n < 0 {
                        if errno == EINTR || errno == EAGAIN { continue }
                        broken = true  // EPIPE: the client is gone; drop further output
                        return
                    }
                    offset += n
                }
            }
        }
    }
}

/// Collects messages in memory, for tests.
public final class CollectingSink: MessageSink {
    private let messages = Mutex<[JSON]>([])
    public init() {}
    public func send(_ message: JSON) { messages.withLock { $0.append(message) } }
    public var all: [JSON] { messages.withLock { $0 } }
}
