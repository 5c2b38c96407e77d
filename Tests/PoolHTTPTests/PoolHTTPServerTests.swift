import Synchronization
import JSON
import PoolHTTP
import Runs
import Testing
import TestSupport

@Suite("PoolHTTPServer", .timeLimit(.minutes(1)))
struct PoolHTTPServerTests {
    @Test("POST /v1/runs streams accepted, then progress, then the result, as NDJSON in order")
    func streamsAcceptedProgressThenResult() async throws {
        let fake = FakeDispatcher(.complete(after: .milliseconds(300)))
        let server = try startServer(fake, progressInterval: .milliseconds(50))
        defer { server.stop() }
        let port = server.port
        let (status, contentType, lines) = await onThread { () -> (Int, String?, [String]) in
            guard let c = RawConnection(port: port) else { return (0, nil, []) }
            c.sendRequest("POST", "/v1/runs", headers: ["Authorization: Bearer \(testToken)"], body: runBody())
            guard let head = c.readHead() else { return (0, nil, []) }
            var lines: [String] = []
            while let line = c.readStreamLine() { lines.append(line) }
            return (head.status, head.headers.first(where: { $0.name == "content-type" })?.value, lines)
        }
        #expect(status == 200)
        #expect(contentType == "application/x-ndjson")
        let events = lines.compactMap { (try? JSON.parse($0)).flatMap(RunEvent.init(json:)) }
        #expect(events.count == lines.count, "every line is one event: \(lines)")
        #expect(events.first == .accepted(runID: "run-1", pod: "test-pod"))
        let progress = events.compactMap { e -> Int? in
            if case .progress(let id, let ms) = e, id == "run-1" { return ms }
            return nil
        }
        #expect(progress.count >= 2, "server progress every 50 ms over a 300 ms run: \(lines)")
        #expect(progress == progress.sorted(), "elapsed_ms only grows")
        guard case .result(let result) = events.last else {
            Issue.record("the last line is not the result: \(lines)")
            return
        }
        #expect(result.status == .ok)
        #expect(result.output == "done: say hello")
        #expect(fake.submitted.map(\.runID) == ["run-1"])
    }

    @Test("events the dispatcher emits are streamed as they come, before the run ends")
    func dispatcherProgressIsForwardedAtOnce() async throws {
        // The run lasts 5 s; the events must arrive long before that (the bound is loose on purpose).
        let fake = FakeDispatcher(.complete(after: .seconds(5), progressEvents: 2))
        let server = try startServer(fake, progressInterval: .seconds(30))
        defer { server.stop() }
        let port = server.port
        let clock = ContinuousClock()
        let start = clock.now
        let firstThree = await onThread { () -> [String] in
            guard let c = RawConnection(port: port) else { return [] }
            c.sendRequest("POST", "/v1/runs", headers: ["Authorization: Bearer \(testToken)"], body: runBody())
            guard c.readHead()?.status == 200 else { return [] }
            return (0..<3).compactMap { _ in c.readStreamLine() }
        }
        #expect(clock.now - start < .seconds(4), "accepted and progress arrive before the result")
        let events = firstThree.compactMap { (try? JSON.parse($0)).flatMap(RunEvent.init(json:)) }
        #expect(events == [.accepted(runID: "run-1", pod: "test-pod"), .progress(runID: "run-1", elapsedMs: 1), .progress(runID: "run-1", elapsedMs: 2)])
    }

    @Test("POOL_BUSY before accepted is a 429 with Retry-After rounded up and the result as body")
    func busyIs429WithRetryAfter() async throws {
        let fake = FakeDispatcher(.busy(retryAfterMs: 1500))
        let server = try startServer(fake)
        defer { server.stop() }
        let r = try #require(await request(server.port, "POST", "/v1/runs", token: testToken, body: runBody()))
        #expect(r.status == 429)
        #expect(r.header("Retry-After") == "2")
        #expect(r.json?["status"] == "POOL_BUSY")
        #expect(r.json?["retry_after_ms"] == 1500)
        #expect(r.json?["run_id"] == "run-1")
    }

    @Test("POOL_DRAINING from the dispatcher before accepted is a 503; REJECTED is a 400 with the result")
    func dispatcherRefusalsMapToStatusCodes() async throws {
        let draining = FakeDispatcher(.refuse(.poolDraining, message: "draining"))
        let s1 = try startServer(draining)
        defer { s1.stop() }
        let r1 = try #require(await request(s1.port, "POST", "/v1/runs", token: testToken, body: runBody()))
        #expect(r1.status == 503)
        #expect(r1.json?["status"] == "POOL_DRAINING")

        let rejected = FakeDispatcher(.refuse(.rejected, message: "prompt_file: outside the allowed roots"))
        let s2 = try startServer(rejected)
        defer { s2.stop() }
        let r2 = try #require(await request(s2.port, "POST", "/v1/runs", token: testToken, body: runBody()))
        #expect(r2.status == 400)
        #expect(r2.json?["status"] == "REJECTED")
        #expect(r2.json?["message"] == "prompt_file: outside the allowed roots")
    }

    @Test("a run without or with a wrong bearer token is 401 with WWW-Authenticate and never submitted")
    func wrongOrMissingTokenIs401() async throws {
        let fake = FakeDispatcher(.complete(after: .zero))
        let server = try startServer(fake)
        defer { server.stop() }
        let missing = try #require(await request(server.port, "POST", "/v1/runs", body: runBody()))
        #expect(missing.status == 401)
        #expect(missing.header("WWW-Authenticate") == "Bearer")
        #expect(missing.json?["status"] == "UNAUTHORIZED")
        let wrong = try #require(await request(server.port, "POST", "/v1/runs", token: testToken + "x", body: runBody()))
        #expect(wrong.status == 401)
        let otherScheme = try #require(
            await request(server.port, "POST", "/v1/runs", headers: ["Authorization: Basic \(testToken)"], body: runBody()))
        #expect(otherScheme.status == 401)
        #expect(fake.submitted.isEmpty)
        // The right token (scheme in any case) gets through.
        let right = try #require(
            await request(server.port, "POST", "/v1/runs", headers: ["Authorization: bearer \(testToken)"], body: runBody()))
        #expect(right.status == 200)
        #expect(fake.submitted.count == 1)
    }

    @Test("a server without a token refuses to start unless unauthenticated access is allowed")
    func noTokenNeedsExplicitOptIn() throws {
        let fake = FakeDispatcher(.complete(after: .zero))
        let refused = PoolHTTPServer(
            host: "127.0.0.1", port: 0, token: nil, dispatcher: fake, metrics: PoolMetrics(), logger: .discard, podName: "p")
        #expect(throws: PoolHTTPServerError.missingToken) { try refused.start() }
        let open = PoolHTTPServer(
            host: "127.0.0.1", port: 0, token: nil, allowUnauthenticated: true, dispatcher: fake, metrics: PoolMetrics(),
            logger: .discard, podName: "p")
        try open.start()
        #expect(open.port != 0)
        open.stop()
    }

    @Test("a body whose Content-Length is over the limit is 413 before it is read")
    func contentLengthOverLimitIs413() async throws {
        let fake = FakeDispatcher(.complete(after: .zero))
        let server = try startServer(fake, maxBodyBytes: 1024)
        defer { server.stop() }
        let port = server.port
        // Only the head is sent: the answer must not wait for the 10 MB body.
        let r = await onThread { () -> HTTPResponse? in
            guard let c = RawConnection(port: port) else { return nil }
            c.send("POST /v1/runs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(testToken)\r\nContent-Length: 10000000\r\n\r\n")
            return c.readResponse()
        }
        #expect(r?.status == 413)
        #expect(r?.json?["field"] == "body")
        #expect(fake.submitted.isEmpty)
    }

    @Test("a chunked body that grows over the limit while uploading is 413")
    func chunkedBodyOverLimitIs413() async throws {
        let fake = FakeDispatcher(.complete(after: .zero))
        let server = try startServer(fake, maxBodyBytes: 1024)
        defer { server.stop() }
        let port = server.port
        let r = await onThread { () -> HTTPResponse? in
            guard let c = RawConnection(port: port) else { return nil }
            c.send("POST /v1/runs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(testToken)\r\nTransfer-Encoding: chunked\r\n\r\n")
            let piece = String(repeating: "a", count: 512)
            for _ in 0..<8 { c.send("200\r\n\(piece)\r\n") }
            c.send("0\r\n\r\n")
            return c.readResponse()
        }
        #expect(r?.status == 413)
        #expect(fake.submitted.isEmpty)
    }

    @Test("a body that is not JSON is 400 REJECTED naming the body")
    func malformedJSONIs400() async throws {
        let fake = FakeDispatcher(.complete(after: .zero))
        let server = try startServer(fake)
        defer { server.stop() }
        let r = try #require(await request(server.port, "POST", "/v1/runs", token: testToken, body: Array("{\"run_id\": ".utf8)))
        #expect(r.status == 400)
        #expect(r.json?["status"] == "REJECTED")
        #expect(r.json?["field"] == "body")
        #expect(fake.submitted.isEmpty)
    }

    @Test("a request missing a required field is 400 REJECTED naming that field")
    func missingFieldIs400NamingIt() async throws {
        let fake = FakeDispatcher(.complete(after: .zero))
        let metrics = PoolMetrics()
        let server = try startServer(fake, metrics: metrics)
        defer { server.stop() }
        let body: JSON = ["run_id": "run-1", "task": "greet", "prompt": "hi"]
        let r = try #require(await request(server.port, "POST", "/v1/runs", token: testToken, body: Array(body.text.utf8)))
        #expect(r.status == 400)
        #expect(r.json?["field"] == "adapter")
        #expect(r.json?["message"]?.stringValue?.contains("adapter") == true)
        #expect(fake.submitted.isEmpty)
        #expect(metrics.snapshot.rejected == 1, "refusals the dispatcher never sees are counted here")
    }

    @Test("POST while draining is 503 POOL_DRAINING and never submitted")
    func drainingRefusesRuns() async throws {
        let fake = FakeDispatcher(.complete(after: .zero))
        let server = try startServer(fake)
        defer { server.stop() }
        server.beginDrain()
        let r = try #require(await request(server.port, "POST", "/v1/runs", token: testToken, body: runBody()))
        #expect(r.status == 503)
        #expect(r.json?["status"] == "POOL_DRAINING")
        #expect(r.json?["run_id"] == "run-1")
        #expect(fake.submitted.isEmpty)
    }

    @Test("a client that disconnects mid-stream cancels its run's task within a second")
    func disconnectCancelsRun() async throws {
        let fake = FakeDispatcher(.holdUntilCancelled)
        let server = try startServer(fake, progressInterval: .seconds(5))
        defer { server.stop() }
        let port = server.port
        let first = await onThread { () -> String? in
            guard let c = RawConnection(port: port) else { return nil }
            c.sendRequest("POST", "/v1/runs", headers: ["Authorization: Bearer \(testToken)"], body: runBody())
            guard c.readHead()?.status == 200 else { return nil }
            let line = c.readStreamLine()
            c.hangUp()
            return line
        }
        #expect(first?.contains("\"accepted\"") == true)
        let clock = ContinuousClock()
        let hungUp = clock.now
        let cancelled = await eventually(within: .seconds(1)) { fake.taskCancelled.contains("run-1") }
        #expect(cancelled, "the submit task was not cancelled within 1 s of the hang-up")
        #expect(clock.now - hungUp < .seconds(1))
        #expect(fake.active.isEmpty)
    }

    @Test("DELETE /v1/runs/{id} cancels a known run (200) and is 404 for an unknown one")
    func deleteCancelsOr404() async throws {
        let fake = FakeDispatcher(.holdUntilCancelled)
        let server = try startServer(fake, progressInterval: .milliseconds(100))
        defer { server.stop() }
        let port = server.port
        async let streamed: [String] = onThread {
            guard let c = RawConnection(port: port) else { return [] }
            c.sendRequest("POST", "/v1/runs", headers: ["Authorization: Bearer \(testToken)"], body: runBody())
            guard c.readHead()?.status == 200 else { return [] }
            var lines: [String] = []
            while let line = c.readStreamLine() { lines.append(line) }
            return lines
        }
        #expect(await eventually { fake.active.contains("run-1") })
        let unauthorized = try #require(await request(port, "DELETE", "/v1/runs/run-1"))
        #expect(unauthorized.status == 401)
        let ok = try #require(await request(port, "DELETE", "/v1/runs/run-1", token: testToken))
        #expect(ok.status == 200)
        #expect(ok.json?["cancelled"] == true)
        let lines = await streamed
        let last = lines.last.flatMap { try? JSON.parse($0) }.flatMap(RunEvent.init(json:))
        if case .result(let r) = last { #expect(r.status == .cancelled) } else { Issue.record("no result line: \(lines)") }
        let missing = try #require(await request(port, "DELETE", "/v1/runs/nope", token: testToken))
        #expect(missing.status == 404)
        #expect(missing.json?["cancelled"] == false)
        #expect(fake.cancelCalls == ["run-1", "nope"])
    }

    @Test("GET /v1/status needs the token and returns the dispatcher's PoolStatus")
    func statusNeedsTokenAndReturnsPoolStatus() async throws {
        let fake = FakeDispatcher(.complete(after: .zero))
        let server = try startServer(fake)
        defer { server.stop() }
        let denied = try #require(await request(server.port, "GET", "/v1/status"))
        #expect(denied.status == 401)
        let r = try #require(await request(server.port, "GET", "/v1/status", token: testToken))
        #expect(r.status == 200)
        let status = try #require(r.json.flatMap(PoolStatus.init(json:)))
        #expect(status == PoolStatus(pod: "test-pod", slots: 4, busy: 0, draining: false, runs: []))
        #expect(r.json?["free"] == 4)
    }

    @Test("/healthz is 200 and /readyz is 200 until beginDrain, then 503, both without a token")
    func healthAndReadiness() async throws {
        let fake = FakeDispatcher(.complete(after: .zero))
        let server = try startServer(fake)
        defer { server.stop() }
        #expect(await request(server.port, "GET", "/healthz")?.status == 200)
        let ready = try #require(await request(server.port, "GET", "/readyz"))
        #expect(ready.status == 200)
        #expect(ready.json?["ready"] == true)
        server.beginDrain()
        #expect(server.isDraining)
        let draining = try #require(await request(server.port, "GET", "/readyz"))
        #expect(draining.status == 503)
        #expect(draining.json?["ready"] == false)
        #expect(await request(server.port, "GET", "/healthz")?.status == 200)
        let status = try #require(await request(server.port, "GET", "/v1/status", token: testToken))
        #expect(status.json?["draining"] == true)
    }

    @Test("/metrics is Prometheus text with the slot gauges, without a token")
    func metricsExposition() async throws {
        let fake = FakeDispatcher(.complete(after: .zero))
        let metrics = PoolMetrics()
        metrics.record(.ok, durationMs: 1200)
        let server = try startServer(fake, metrics: metrics)
        defer { server.stop() }
        let r = try #require(await request(server.port, "GET", "/metrics"))
        #expect(r.status == 200)
        #expect(r.header("Content-Type")?.hasPrefix("text/plain; version=0.0.4") == true)
        #expect(r.text.contains("super_agent_slots_total 4\n"))
        #expect(r.text.contains("super_agent_slots_busy 0\n"))
        #expect(r.text.contains("super_agent_draining 0\n"))
        #expect(r.text.contains("super_agent_runs_total{status=\"OK\"} 1\n"))
    }

    @Test("an unknown path is 404 JSON and a wrong method is 405 with Allow")
    func unknownPathAndWrongMethod() async throws {
        let fake = FakeDispatcher(.complete(after: .zero))
        let server = try startServer(fake)
        defer { server.stop() }
        let missing = try #require(await request(server.port, "GET", "/v2/nothing"))
        #expect(missing.status == 404)
        #expect(missing.json?["status"] == "NOT_FOUND")
        let getRuns = try #require(await request(server.port, "GET", "/v1/runs", token: testToken))
        #expect(getRuns.status == 405)
        #expect(getRuns.header("Allow") == "POST")
        let postHealth = try #require(await request(server.port, "POST", "/healthz", body: []))
        #expect(postHealth.status == 405)
        #expect(postHealth.header("Allow") == "GET, HEAD")
        let getRun = try #require(await request(server.port, "GET", "/v1/runs/run-1", token: testToken))
        #expect(getRun.status == 405)
        #expect(getRun.header("Allow") == "DELETE")
        #expect(fake.submitted.isEmpty)
    }

    @Test("one connection carries several requests, a finished stream included (keep-alive)")
    func keepAliveAcrossRequests() async throws {
        let fake = FakeDispatcher(.complete(after: .milliseconds(20)))
        let server = try startServer(fake)
        defer { server.stop() }
        let port = server.port
        let statuses = await onThread { () -> [Int] in
            guard let c = RawConnection(port: port) else { return [] }
            var out: [Int] = []
            c.sendRequest("GET", "/healthz")
            out.append(c.readResponse()?.status ?? 0)
            c.sendRequest("GET", "/nowhere")
            out.append(c.readResponse()?.status ?? 0)
            c.sendRequest("POST", "/v1/runs", headers: ["Authorization: Bearer \(testToken)"], body: runBody())
            let streamed = c.readResponse()
            out.append(streamed?.status ?? 0)
            out.append(streamed?.text.contains("\"event\":\"result\"") == true ? 1 : 0)
            c.sendRequest("GET", "/readyz")
            out.append(c.readResponse()?.status ?? 0)
            return out
        }
        #expect(statuses == [200, 404, 200, 1, 200])
    }

    @Test("stop() closes running streams and cancels their runs")
    func stopCancelsRunningStreams() async throws {
        let fake = FakeDispatcher(.holdUntilCancelled)
        let server = try startServer(fake, progressInterval: .seconds(5))
        let port = server.port
        let streaming = StreamingFlag()
        async let ended: Bool = onThread {
            guard let c = RawConnection(port: port) else { return false }
            c.sendRequest("POST", "/v1/runs", headers: ["Authorization: Bearer \(testToken)"], body: runBody())
            guard c.readHead()?.status == 200, c.readStreamLine() != nil else { return false }
            streaming.set()
            while c.readStreamLine() != nil {}
            return true
        }
        // Stop only once the client is reading the stream, so the test sees the stream end, not a refusal.
        #expect(await eventually { fake.active.contains("run-1") && streaming.isSet })
        server.stop()
        #expect(await ended, "the stream ended when the server stopped")
        #expect(await eventually(within: .seconds(1)) { fake.taskCancelled.contains("run-1") })
        #expect(server.port == 0)
    }
}

/// Set by the client thread once it reads the stream's first line.
final class StreamingFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    func set() { flag.store(true, ordering: .releasing) }
    var isSet: Bool { flag.load(ordering: .acquiring) }
}
