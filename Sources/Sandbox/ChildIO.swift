#if canImport(Glibc)
import Glibc
#endif
import Runs

/// One captured stream: the first `cap` bytes, and a count of the rest.
struct Capture {
    let cap: Int
    var bytes: [UInt8] = []
    var dropped = 0

    mutating func append(_ chunk: UnsafeRawBufferPointer) {
        let keep = min(max(0, cap - bytes.count), chunk.count)
        if keep > 0 { bytes.append(contentsOf: chunk[0..<keep]) }
        dropped += chunk.count - keep
    }

    var output: CapturedOutput { CapturedOutput(bytes: bytes, droppedBytes: dropped) }
}

/// The parent's ends of the three pipes (non-blocking), with what was written and read so far.
struct IOState {
    var stdinFD: Int32
    let stdin: [UInt8]
    var stdinOffset = 0
    var stdoutFD: Int32
    var stderrFD: Int32
    var stdout: Capture
    var stderr: Capture
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)

    init(stdinFD: Int32, stdin: [UInt8], stdoutFD: Int32, stderrFD: Int32, cap: Int) {
        self.stdinFD = stdinFD
        self.stdin = stdin
        self.stdoutFD = stdoutFD
        self.stderrFD = stderrFD
        self.stdout = Capture(cap: cap)
        self.stderr = Capture(cap: cap)
        for fd in [stdinFD, stdoutFD, stderrFD] { try? Sys.setNonBlocking(fd) }
        if stdin.isEmpty { closeStdin() }
    }

    mutating func closeStdin() {
        if stdinFD >= 0 { Sys.close(stdinFD) }
        stdinFD = -1
    }

    mutating func closeAll() {
        closeStdin()
        if stdoutFD >= 0 { Sys.close(stdoutFD) }
        if stderrFD >= 0 { Sys.close(stderrFD) }
        stdoutFD = -1
        stderrFD = -1
        buffer.deallocate()
    }

    /// Writes as much of stdin as the pipe takes; closes it when done or when the child has
    /// closed its end (EPIPE: the SIGPIPE stays blocked and pending on this thread).
    mutating func writeStdin(revents: Int16) {
        guard stdinFD >= 0 else { return }
        if revents & Int16(POLLOUT) == 0 {
            closeStdin()  // POLLERR/POLLHUP: no reader any more
            return
        }
        while stdinOffset < stdin.count {
            let fd = stdinFD
            let end = min(stdin.count, stdinOffset + 64 * 1024)
            do throws(Errno) {
                stdinOffset += try Sys.write(fd, stdin[stdinOffset..<end])
            } catch {
                if error.code != EAGAIN { closeStdin() }
                return
            }
        }
        closeStdin()
    }

    mutating func readStdout() {
        if !Self.read(stdoutFD, into: &stdout, buffer: buffer) {
            Sys.close(stdoutFD)
            stdoutFD = -1
        }
    }

    mutating func readStderr() {
        if !Self.read(stderrFD, into: &stderr, buffer: buffer) {
            Sys.close(stderrFD)
            stderrFD = -1
        }
    }

    /// Reads what the pipes hold without waiting for more, until `untilNs` at most.
    mutating func drain(untilNs: UInt64) {
        while stdoutFD >= 0 || stderrFD >= 0 {
            let before = stdout.bytes.count + stdout.dropped + stderr.bytes.count + stderr.dropped
            if stdoutFD >= 0 { readStdout() }
            if stderrFD >= 0 { readStderr() }
            let after = stdout.bytes.count + stdout.dropped + stderr.bytes.count + stderr.dropped
            if after == before || Sys.monotonicNanoseconds() >= untilNs { return }
        }
    }

    /// Reads a few chunks; false at EOF or on an error (the descriptor should be closed).
    private static func read(_ fd: Int32, into capture: inout Capture, buffer: UnsafeMutableRawBufferPointer) -> Bool {
        guard fd >= 0 else { return false }
        for _ in 0..<16 {
            do throws(Errno) {
                let n = try Sys.read(fd, buffer)
                if n == 0 { return false }
                capture.append(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            } catch {
                return error.code == EAGAIN
            }
        }
        return true
    }
}
