import JSON
import Log
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
        // Serialized (one jansson pass, newline included) before taking the lock; written whole under it.
        let written: Bool? = try? message.withSerializedBytes(newlineTerminated: true) { writeWhole($0) }
        if written == nil { _ = Array((message.text + "\n").utf8).withUnsafeBytes { writeWhole($0) } }
    }

    @discardableResult
    private func writeWhole(_ raw: UnsafeRawBufferPointer) -> Bool {
        lock.withLock { broken in
            guard !broken else { return false }
            if DescriptorIO.writeWhole(fd, raw) { return true }
            broken = true  // EPIPE: the client is gone; drop further output
            return false
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
