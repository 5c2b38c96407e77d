import Dispatch
import JSON
import Testing

@testable import MCP

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads `fd` to EOF on another thread, after `delayMicroseconds`; `wait()` returns the bytes.
private final class PipeDrain: @unchecked Sendable {
    private var bytes: [UInt8] = []
    private let done = DispatchSemaphore(value: 0)

    init(fd: Int32, delayMicroseconds: UInt32 = 0) {
        DispatchQueue.global().async { [self] in
            usleep(delayMicroseconds)
            var chunk = [UInt8](repeating: 0, count: 65_536)
            while true {
                let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                bytes += chunk[..<n]
            }
            done.signal()
        }
    }

    func wait() -> [UInt8] {
        done.wait()
        return bytes
    }
}

@Suite("FileDescriptorSink")
struct FileDescriptorSinkTests {
    @Test func eachMessageIsOneNewlineTerminatedLine() throws {
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        let drain = PipeDrain(fd: fds[0])
        let sink = FileDescriptorSink(fd: fds[1])
        let first: JSON = ["jsonrpc": "2.0", "id": 1, "result": ["text": "line one\nline two"]]
        let second: JSON = ["jsonrpc": "2.0", "method": "notifications/progress", "params": ["progress": 0.5]]
        sink.send(first)
        sink.send(second)
        close(fds[1])
        let lines = drain.wait().split(separator: 0x0A, omittingEmptySubsequences: false)
        close(fds[0])
        #expect(lines.count == 3 && lines[2].isEmpty, "two lines, each ending in a newline")
        #expect(try JSON.parse(lines[0]) == first)
        #expect(try JSON.parse(lines[1]) == second)
    }

    @Test func aFullNonBlockingPipeIsWaitedOnNotSpunOn() throws {
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        try #require(fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK) == 0)
        // 1 MiB: far past the pipe's 64 KiB, and nobody reads for 0.3 s, so write(2) says EAGAIN.
        let drain = PipeDrain(fd: fds[0], delayMicroseconds: 300_000)
        let sink = FileDescriptorSink(fd: fds[1])
        let message: JSON = ["jsonrpc": "2.0", "id": 7, "result": ["text": .string(String(repeating: "x", count: 1 << 20))]]
        let cpuBefore = threadCPUNanoseconds()
        sink.send(message)
        let cpuUsed = threadCPUNanoseconds() - cpuBefore
        close(fds[1])
        let bytes = drain.wait()
        close(fds[0])
        #expect(bytes.last == 0x0A)
        #expect(try JSON.parse(bytes.dropLast()) == message, "the whole message arrived, in order")
        #expect(cpuUsed < 100_000_000, "the sink burned \(cpuUsed / 1_000_000) ms of CPU waiting 300 ms for the reader")
    }
}
