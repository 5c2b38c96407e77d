import Log
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Splits a byte stream into newline-delimited lines with a length limit.
///
/// A line longer than the limit is not buffered: its bytes are skipped up to the next newline and
/// reported once as `.oversized`, so a hostile client cannot make the server hold unbounded memory,
/// and reading resumes with the following line.
public struct LineFramer: Sendable {
    public enum Event: Sendable, Equatable {
        case line([UInt8])
        case oversized(byteCount: Int)
    }

    public let maxLineBytes: Int
    private var buffer: [UInt8] = []
    private var skipping = false
    private var skipped = 0

    public init(maxLineBytes: Int) {
        self.maxLineBytes = max(1, maxLineBytes)
    }

    /// Feeds a chunk; returns the complete lines (without `\n` or a trailing `\r`) it finished.
    public mutating func feed(_ chunk: UnsafeRawBufferPointer) -> [Event] {
        var events: [Event] = []
        var start = 0
        let bytes = chunk.bindMemory(to: UInt8.self)
        while start < bytes.count {
            let rest = UnsafeBufferPointer(rebasing: bytes[start...])
            if let nl = rest.firstIndex(of: 0x0A) {
                let segment = UnsafeBufferPointer(rebasing: rest[..<nl])
                if skipping {
                    events.append(.oversized(byteCount: skipped + segment.count))
                    skipping = false
                    skipped = 0
                } else if buffer.count + segment.count > maxLineBytes {
                    events.append(.oversized(byteCount: buffer.count + segment.count))
                    buffer.removeAll(keepingCapacity: false)
                } else {
                    buffer.append(contentsOf: segment)
                    if buffer.last == 0x0D { buffer.removeLast() }
                    events.append(.line(buffer))
                    buffer.removeAll(keepingCapacity: true)
                }
                start += nl + 1
            } else {
                if skipping {
                    skipped += rest.count
                } else if buffer.count + rest.count > maxLineBytes {
                    skipping = true
                    skipped = buffer.count + rest.count
                    buffer.removeAll(keepingCapacity: false)
                } else {
                    buffer.append(contentsOf: rest)
                }
                start = bytes.count
            }
        }
        return events
    }

    /// At end of input: a final line without a newline is still a line (a half-written message
    /// gets its parse error rather than silence).
    public mutating func finish() -> [Event] {
        defer {
            buffer = []
            skipping = false
            skipped = 0
        }
        if skipping { return [.oversized(byteCount: skipped)] }
        if buffer.isEmpty { return [] }
        if buffer.last == 0x0D { buffer.removeLast() }
        return [.line(buffer)]
    }
}

/// Reads a file descriptor to EOF through a `LineFramer`, handing each event to `body`.
///
/// `spin`: after each read, how long to keep polling for more input (yielding the CPU between polls)
/// before sleeping in `read(2)` again. A lockstep client's next request usually arrives within
/// microseconds; on a VM, waking a vCPU that went idle costs tens of microseconds, so a short spin
/// roughly halves the round trip at a cost of at most `spin` of CPU per read. Zero turns it off.
public func readLines(fd: Int32, maxLineBytes: Int, spin: Duration = .zero, _ body: (LineFramer.Event) -> Void) {
    var framer = LineFramer(maxLineBytes: maxLineBytes)
    let chunkSize = 64 * 1024
    let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
    defer { chunk.deallocate() }
    while true {
        let n = read(fd, chunk.baseAddress, chunkSize)
        if n < 0 {
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK {
                // A non-blocking descriptor (a parent may hand one down): sleep until it is readable.
                DescriptorIO.waitUntilReady(fd, for: Int16(POLLIN))
                continue
            }
            break
        }
        if n == 0 { break }
        for event in framer.feed(UnsafeRawBufferPointer(rebasing: chunk[..<n])) { body(event) }
        if spin > .zero { _ = pollBriefly(fd: fd, for: spin) }
    }
    for event in framer.finish() { body(event) }
}

/// Polls `fd` without sleeping until it is readable (or hung up, or in error) or `spin` has passed;
/// true when it is ready, so the next `read(2)` returns at once.
func pollBriefly(fd: Int32, for spin: Duration) -> Bool {
    var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    let clock = ContinuousClock()
    let deadline = clock.now + spin
    while true {
        let ready = poll(&pfd, 1, 0)
        if ready > 0 { return true }
        if ready < 0 && errno != EINTR { return false }
        if clock.now >= deadline { return false }
        sched_yield()
    }
}
