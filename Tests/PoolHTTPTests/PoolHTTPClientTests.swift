import JSON
import PoolHTTP
import Runs
import Synchronization
import Testing
import TestSupport

/// Collects the events a client forwards.
final class EventLog: Sendable {
    private let events = Mutex<[RunEvent]>([])
    func append(_ e: RunEvent) { events.withLock { $0.append(e) } }
    var all: [RunEvent] { events.withLock { $0 } }
}

func client(_ port: Int, token: String? = testToken) -> PoolHTTPClient {
    PoolHTTPClient(baseURL: "http://127.0.0.1:\(port)/", token: token, connectTimeout: .seconds(2))
}

@Suite("PoolHTTPClient", .timeLimit(.minutes(1)))
struct PoolHTTPClientTests {
    @Test("submit forwards accepted and progress events and returns the streamed result")
    func okRunStreamsEventsAndResult() async throws {
        let fake = FakeDispatcher(.complete(after: .milliseconds(200), progressEvents: 1))
        let server = try startServer(fake, progressInterval: .milliseconds(50))
        defer { server.stop() }
        let log = EventLog()
        let result = await client(server.port).submit(sampleRequest(), events: log.append)
        #expect(result.status == .ok)
        #expect(result.runID == "run-1")
        #expect(result.output == "done: say hello")
        #expect(result.exitCode == 0)
        let events = log.all
        #expect(events.first == .accepted(runID: "run-1", pod: "test-pod"))
        #expect(events.dropFirst().allSatisfy { if case .progress = $0 { true } else { false } })
        #expect(events.count >= 3, "accepted, the dispatcher's progress and the server's: \(events)")
        #expect(fake.submitted == [sampleRequest()], "the request crossed the wire unchanged")
    }

    @Test("a 429 becomes POOL_BUSY with retry_after_ms")
    func busyMapsToPoolBusy() async throws {
        let fake = FakeDispatcher(.busy(retryAfterMs: 2500))
        let server = try startServer(fake)
        defer { server.stop() }
        let log = EventLog()
        let result = await client(server.port).submit(sampleRequest(), events: log.append)
        #expect(result.status == .poolBusy)
        #expect(result.retryAfterMs == 2500)
        #expect(result.runID == "run-1")
        #expect(log.all.isEmpty)
    }

    @Test("a closed port is POOL_UNREACHABLE at once, with curl's reason")
    func closedPortIsUnreachableFast() async {
        let port = closedPort()
        let clock = ContinuousClock()
        let start = clock.now
        let result = await client(port).submit(sampleRequest(), events: { _ in })
        #expect(result.status == .poolUnreachable)
        #expect(clock.now - start < .seconds(1))
        #expect(result.message.contains("127.0.0.1"))
        #expect(result.runID == "run-1")
    }

    @Test("a request the server finds invalid is REJECTED naming the field")
    func invalidRequestIsRejected() async throws {
        let fake = FakeDispatcher(.complete(after: .zero))
        let server = try startServer(fake)
        defer { server.stop() }
        var bad = sampleRequest()
        bad.runID = "no spaces allowed"
        let result = await client(server.port).submit(bad, events: { _ in })
        #expect(result.status == .rejected)
        #expect(result.message.contains("run_id"))
        #expect(fake.submitted.isEmpty)
    }

    @Test("a body over the server's limit is REJECTED")
    func oversizeBodyIsRejected() async throws {
        let fake = FakeDispatcher(.complete(after: .zero))
        let server = try startServer(fake, maxBodyBytes: 1024)
        defer { server.stop() }
        let result = await client(server.port).submit(sampleRequest(prompt: String(repeating: "x", count: 4096)), events: { _ in })
        #expect(result.status == .rejected)
        #expect(result.message.contains("1024"))
        #expect(fake.submitted.isEmpty)
    }

    @Test("a refused token is FAILED telling to check SUPER_AGENT_POOL_TOKEN")
    func refusedTokenIsFailedWithHint() async throws {
        let fake = FakeDispatcher(.complete(after: .zero))
        let server = try startServer(fake)
        defer { server.stop() }
        let result = await client(server.port, token: "wrong").submit(sampleRequest(), events: { _ in })
        #expect(result.status == .failed)
        #expect(result.message.contains("SUPER_AGENT_POOL_TOKEN"))
        #expect(fake.submitted.isEmpty)
    }

    @Test("a draining pool is POOL_DRAINING")
    func drainingPoolIsPoolDraining() async throws {
        let fake = FakeDispatcher(.complete(after: .zero))
        let server = try startServer(fake)
        defer { server.stop() }
        server.beginDrain()
        let result = await client(server.port).submit(sampleRequest(), events: { _ in })
        #expect(result.status == .poolDraining)
        #expect(result.runID == "run-1")
    }

    @Test("cancelling the calling task returns CANCELLED promptly and the server cancels the run")
    func taskCancelAbortsAndServerCancels() async throws {
        let fake = FakeDispatcher(.holdUntilCancelled)
        let server = try startServer(fake, progressInterval: .seconds(5))
        defer { server.stop() }
        let c = client(server.port)
        let log = EventLog()
        let task = Task { await c.submit(sampleRequest(), events: log.append) }
        #expect(await eventually { log.all.contains(.accepted(runID: "run-1", pod: "test-pod")) })
        let clock = ContinuousClock()
        let cancelledAt = clock.now
        task.cancel()
        let result = await task.value
        #expect(clock.now - cancelledAt < .milliseconds(500), "the transfer stops at once")
        #expect(result.status == .cancelled)
        #expect(await eventually(within: .seconds(1)) { fake.taskCancelled.contains("run-1") }, "the server cancelled the run")
    }

    @Test("a task cancelled before submit never reaches the pool")
    func alreadyCancelledTaskSendsNothing() async throws {
        let fake = FakeDispatcher(.complete(after: .zero))
        let server = try startServer(fake)
        defer { server.stop() }
        let c = client(server.port)
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await c.submit(sampleRequest(), events: { _ in })
        }
        #expect(await task.value.status == .cancelled)
        try await Task.sleep(for: .milliseconds(50))
        #expect(fake.submitted.isEmpty)
    }

    @Test("a stream that ends without a result is FAILED saying so")
    func streamWithoutResultIsFailed() async throws {
        let accepted = RunEvent.accepted(runID: "run-1", pod: "p").json.text
        let scripted = try #require(
            ScriptedServer(
                response: "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nConnection: close\r\n\r\n\(accepted)\n"))
        let log = EventLog()
        let result = await client(scripted.port).submit(sampleRequest(), events: log.append)
        #expect(result.status == .failed)
        #expect(result.message.contains("the pool closed the stream before the result"))
        #expect(log.all == [.accepted(runID: "run-1", pod: "p")])
    }

    @Test("cancel(runID:) sends DELETE: true for a running run, false for an unknown one")
    func cancelByRunID() async throws {
        let fake = FakeDispatcher(.holdUntilCancelled)
        let server = try startServer(fake, progressInterval: .seconds(5))
        defer { server.stop() }
        let c = client(server.port)
        async let running = c.submit(sampleRequest(), events: { _ in })
        #expect(await eventually { fake.active.contains("run-1") })
        #expect(await c.cancel(runID: "run-1"))
        #expect(await running.status == .cancelled)
        #expect(await c.cancel(runID: "unknown") == false)
        #expect(await client(server.port, token: "wrong").cancel(runID: "run-1") == false)
        #expect(fake.cancelCalls == ["run-1", "unknown"])
    }

    @Test("status() returns the pool's status, and 0 slots when the pool cannot be asked")
    func statusOverHTTP() async throws {
        let fake = FakeDispatcher(.complete(after: .zero))
        let server = try startServer(fake)
        defer { server.stop() }
        let status = await client(server.port).status()
        #expect(status == PoolStatus(pod: "test-pod", slots: 4, busy: 0, draining: false, runs: []))
        let unreachable = await client(closedPort()).status()
        #expect(unreachable.slots == 0)
        await #expect(throws: PoolHTTPClientError.self) { try await client(server.port, token: "wrong").fetchStatus() }
    }
}
