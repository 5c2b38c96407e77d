import Dispatch
import Testing

@testable import MCP

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Feeds each chunk in turn and returns every event, with `finish()`'s when `finishing`.
private func frame(_ chunks: [String], limit: Int = 64, finishing: Bool = false) -> [LineFramer.Event] {
    frame(chunks.map { Array($0.utf8) }, limit: limit, finishing: finishing)
}

private func frame(_ chunks: [[UInt8]], limit: Int, finishing: Bool = false) -> [LineFramer.Event] {
    var framer = LineFramer(maxLineBytes: limit)
    var events: [LineFramer.Event] = []
    for chunk in chunks { events += chunk.withUnsafeBytes { framer.feed($0) } }
    if finishing { events += framer.finish() }
    return events
}

private func line(_ s: String) -> LineFramer.Event { .line(Array(s.utf8)) }

@Suite("LineFramer")
struct LineFramerTests {
    @Test func linesSplitAcrossChunksAreReassembled() {
        let events = frame(["{\"jsonrpc\":", "\"2.0\"}\nsec", "ond\nthi", "rd", "\n"])
        #expect(events == [line("{\"jsonrpc\":\"2.0\"}"), line("second"), line("third")])
        #expect(frame(["a\nbb\nccc\n"]) == [line("a"), line("bb"), line("ccc")])

        var framer = LineFramer(maxLineBytes: 64)
        #expect(Array("{\"id\":7,\"method\":\"pi".utf8).withUnsafeBytes { framer.feed($0) }.isEmpty, "held until its newline")
        #expect(Array("ng\"}\n".utf8).withUnsafeBytes { framer.feed($0) } == [line("{\"id\":7,\"method\":\"ping\"}")])
    }

    @Test func crlfIsStrippedEvenWhenSplitAcrossChunksButOtherCarriageReturnsStay() {
        #expect(frame(["abc\r\n"]) == [line("abc")])
        #expect(frame(["abc\r", "\n"]) == [line("abc")])
        #expect(frame(["abc", "\r", "\n", "def\r\n"]) == [line("abc"), line("def")])
        #expect(frame(["a\rb\n"]) == [line("a\rb")])
        #expect(frame(["x\r\r\n"]) == [line("x\r")], "only one trailing CR belongs to the terminator")
    }

    @Test func emptyLinesAreDeliveredAsEmptyLines() {
        #expect(frame(["\n\n"]) == [line(""), line("")])
        #expect(frame(["\r\n", "a\n", "\n"]) == [line(""), line("a"), line("")])
    }

    @Test func oversizedLineIsReportedOnceAndReadingResumesAtNextNewline() {
        let events = frame(["0123456789ABCDEF\nok\n"], limit: 8)
        #expect(events == [.oversized(byteCount: 16), line("ok")])
        // Crossing the limit only in the chunk that holds the newline counts the whole line.
        #expect(frame(["abcde", "fghijkl\nok\n"], limit: 8) == [.oversized(byteCount: 12), line("ok")])
        // The framer is back to normal afterwards.
        #expect(
            frame(["toolongtoolong", "\nshort\n", "also-ok\n"], limit: 8)
                == [.oversized(byteCount: 14), line("short"), line("also-ok")])
    }

    @Test func oversizedLineSpanningManyChunksIsReportedOnceWithItsTotalByteCount() {
        var framer = LineFramer(maxLineBytes: 10)
        var during: [LineFramer.Event] = []
        for _ in 0..<100 {
            during += Array("xxxxxxx".utf8).withUnsafeBytes { framer.feed($0) }
        }
        #expect(during.isEmpty, "nothing is reported until the oversized line ends")
        let after = Array("yyy\nnext\n".utf8).withUnsafeBytes { framer.feed($0) }
        #expect(after == [.oversized(byteCount: 703), line("next")])
        #expect(framer.finish().isEmpty)
    }

    @Test func exactlyAtLimitLineIsAcceptedAndOneByteMoreIsNot() {
        #expect(frame(["12345678\n"], limit: 8) == [line("12345678")])
        #expect(frame(["1234", "5678", "\n"], limit: 8) == [line("12345678")])
        #expect(frame(["12345678", "\n"], limit: 8) == [line("12345678")])
        #expect(frame(["123456789\n"], limit: 8) == [.oversized(byteCount: 9)])
        #expect(frame(["12345", "6789\n"], limit: 8) == [.oversized(byteCount: 9)])
    }

    @Test func finishDeliversAFinalLineWithoutNewline() {
        #expect(frame(["a\n{\"half\":"], finishing: true) == [line("a"), line("{\"half\":")])
        #expect(frame(["tail\r"], finishing: true) == [line("tail")])
        #expect(frame(["done\n"], finishing: true) == [line("done")])
    }

    @Test func finishReportsAnOversizedUnterminatedLineOnce() {
        var framer = LineFramer(maxLineBytes: 4)
        #expect(Array("abcdef".utf8).withUnsafeBytes { framer.feed($0) }.isEmpty)
        #expect(Array("gh".utf8).withUnsafeBytes { framer.feed($0) }.isEmpty)
        #expect(framer.finish() == [.oversized(byteCount: 8)])
        #expect(framer.finish().isEmpty, "finish resets the framer")
    }

    @Test func readLinesDrainsAFileDescriptorToEOFIncludingAnUnterminatedLastLine() throws {
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        let input = Array("first\r\n\(String(repeating: "z", count: 40))\nsecond\nlast".utf8)
        let written = input.withUnsafeBytes { write(fds[1], $0.baseAddress, $0.count) }
        close(fds[1])
        try #require(written == input.count)
        var events: [LineFramer.Event] = []
        readLines(fd: fds[0], maxLineBytes: 16) { events.append($0) }
        close(fds[0])
        #expect(events == [line("first"), .oversized(byteCount: 40), line("second"), line("last")])
    }

    @Test func readLinesOnANonBlockingDescriptorSleepsUntilDataInsteadOfSpinning() throws {
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        let (readEnd, writeEnd) = (fds[0], fds[1])
        try #require(fcntl(readEnd, F_SETFL, fcntl(readEnd, F_GETFL) | O_NONBLOCK) == 0)
        let writer = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            usleep(300_000)  // the reader finds nothing for 0.3 s: read(2) says EAGAIN
            _ = Array("late\n".utf8).withUnsafeBytes { write(writeEnd, $0.baseAddress, $0.count) }
            close(writeEnd)
            writer.signal()
        }
        let cpuBefore = threadCPUNanoseconds()
        var events: [LineFramer.Event] = []
        readLines(fd: readEnd, maxLineBytes: 64) { events.append($0) }
        let cpuUsed = threadCPUNanoseconds() - cpuBefore
        writer.wait()
        close(readEnd)
        #expect(events == [line("late")])
        #expect(cpuUsed < 100_000_000, "the reader burned \(cpuUsed / 1_000_000) ms of CPU waiting 300 ms for data")
    }

    /// Writes `parts` to a new pipe from another thread, `gapMicroseconds` apart, then closes it;
    /// returns what `readLines` with `spin` read from the other end.
    private func readSpinning(_ parts: [String], gapMicroseconds: UInt32, spin: Duration) throws -> [LineFramer.Event] {
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        let (readEnd, writeEnd) = (fds[0], fds[1])
        let writer = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            for part in parts {
                usleep(gapMicroseconds)
                _ = Array(part.utf8).withUnsafeBytes { write(writeEnd, $0.baseAddress, $0.count) }
            }
            close(writeEnd)
            writer.signal()
        }
        var events: [LineFramer.Event] = []
        readLines(fd: readEnd, maxLineBytes: 64, spin: spin) { events.append($0) }
        writer.wait()
        close(readEnd)
        return events
    }

    @Test func readLinesWithASpinStillSleepsForLinesThatArriveAfterIt() throws {
        // 5 ms between writes: every spin of 50 µs runs out and the reader falls back to read(2).
        let events = try readSpinning(["one\n", "two\n", "thr", "ee\n", "last"], gapMicroseconds: 5_000, spin: .microseconds(50))
        #expect(events == [line("one"), line("two"), line("three"), line("last")])
    }

    @Test func readLinesWithASpinPicksUpLinesArrivingWithinIt() throws {
        // 200 µs between writes and a 100 ms spin: each line arrives while the reader polls.
        let events = try readSpinning((0..<20).map { "line \($0)\n" }, gapMicroseconds: 200, spin: .milliseconds(100))
        #expect(events == (0..<20).map { line("line \($0)") })
    }

    @Test func pollBrieflySeesInputThatArrivesWithinTheSpin() throws {
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        defer { close(fds[0]); close(fds[1]) }
        let writeEnd = fds[1]
        DispatchQueue.global().async {
            usleep(10_000)
            _ = Array("x\n".utf8).withUnsafeBytes { write(writeEnd, $0.baseAddress, $0.count) }
        }
        #expect(pollBriefly(fd: fds[0], for: .seconds(10)))
    }

    @Test func pollBrieflyGivesUpOnAnIdlePipeOnlyAfterTheSpin() throws {
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        defer { close(fds[0]); close(fds[1]) }
        let clock = ContinuousClock()
        let start = clock.now
        #expect(!pollBriefly(fd: fds[0], for: .milliseconds(5)))
        #expect(clock.now - start >= .milliseconds(5), "it polled for the whole spin before giving up")
    }

    @Test func pollBrieflyReportsAHungUpPipeAsReady() throws {
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        close(fds[1])
        defer { close(fds[0]) }
        #expect(pollBriefly(fd: fds[0], for: .seconds(10)), "EOF is readable: read(2) returns 0 at once")
    }

    @Test func readLinesWithASpinEndsAtEOFWithoutWaitingOutTheSpin() throws {
        let clock = ContinuousClock()
        let start = clock.now
        let events = try readSpinning(["only\n"], gapMicroseconds: 0, spin: .seconds(5))
        #expect(events == [line("only")])
        #expect(clock.now - start < .seconds(4), "a hung-up pipe is readable: the spin ends at once")
    }
}
