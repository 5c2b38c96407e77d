import Runs
import Testing

@testable import RedisStores

/// Stops and restarts its own redis-server, so it has a suite (and a server) to itself.
@Suite(
    "RedisRunRegistry when Redis goes away", .enabled(if: RedisTestServer.isAvailable, "\(RedisTestServer.missingMessage)"),
    .redisServer, .serialized, .timeLimit(.minutes(1)))
struct RedisOutageTests {
    private let callLimit = Duration.milliseconds(1500)

    @Test("Redis down: degraded, serves its own slots only (counting leases already held), never hangs; back: shared, leases re-created")
    func degradesAndRecovers() async throws {
        let server = try currentServer()
        let prefix = uniquePrefix("outage")
        let a = makeRegistry(server, pod: "a", slots: 3, prefix: prefix)
        let b = makeRegistry(server, pod: "b", slots: 3, prefix: prefix)
        await a.refresh()
        await b.refresh()
        #expect(await a.health().mode == .shared)

        let first = try #require(await a.acquire(runID: "first").lease)
        let second = try #require(await a.acquire(runID: "second").lease)
        #expect([first.pod, second.pod] == ["a", "a"])

        server.stop()

        // Leases held when Redis went away still count: one more slot, then full, each call quick.
        let (third, t1) = await timed { await a.acquire(runID: "third") }
        #expect(t1 < callLimit)
        #expect(third.lease == SlotLease(runID: "third", slot: 2, pod: "a"), "served from this pod's own free slot")
        let (fourth, t2) = await timed { await a.acquire(runID: "fourth") }
        #expect(t2 < callLimit)
        #expect(fourth == .full(retryAfterMs: 250), "never more than its 3 slots, even though b has room")

        let (health, t3) = await timed { await a.health() }
        #expect(t3 < callLimit)
        #expect(health.mode == .degraded)
        #expect(health.detail.contains("redis://127.0.0.1:\(server.port)/0"), "detail names the URL: \(health.detail)")
        #expect(health.detail.contains("unreachable"), "detail names the error: \(health.detail)")

        // Releasing while degraded frees the local slot; adopting cannot be confirmed, so it is refused.
        let (_, t4) = await timed { await a.release(first) }
        #expect(t4 < callLimit)
        let (fifth, t5) = await timed { await a.acquire(runID: "fifth") }
        #expect(t5 < callLimit)
        #expect(fifth.lease == SlotLease(runID: "fifth", slot: 0, pod: "a"))
        #expect(await a.acquire(runID: "sixth") == .full(retryAfterMs: 250))
        let (adopted, t6) = await timed { await a.adopt(SlotLease(runID: "x", slot: 1, pod: "a")) }
        #expect(t6 < callLimit)
        #expect(adopted == false)
        let (_, t7) = await timed { await a.refresh() }
        #expect(t7 < callLimit, "a reconnect attempt is bounded by the connect timeout")
        #expect(await a.leases().map(\.runID).sorted() == ["fifth", "second", "third"])

        // Redis comes back empty (no persistence): a re-registers and re-creates its three leases.
        try await server.start()
        let restarted = ContinuousClock.now
        while await a.health().mode != .shared, ContinuousClock.now - restarted < .seconds(5) {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(await a.health().mode == .shared, "back to shared within a few seconds")
        #expect(try server.podIsLive(prefix: prefix, pod: "a"))
        #expect(try server.liveLeaseCount(prefix: prefix, pod: "a") == 3)
        #expect(try server.runID(prefix: prefix, pod: "a", slot: 0) == "fifth")
        #expect(try server.runID(prefix: prefix, pod: "a", slot: 1) == "second")
        #expect(try server.runID(prefix: prefix, pod: "a", slot: 2) == "third")

        // Shared again: a is full, so a new run goes to b once b is back too.
        await b.refresh()
        let next = try #require(await a.acquire(runID: "seventh").lease)
        #expect(next.pod == "b")
        await a.release(second)
        #expect(try server.liveLeaseCount(prefix: prefix, pod: "a") == 2)
        await a.shutdown()
        await b.shutdown()
    }

    @Test("Redis hangs (SIGSTOP): calls give up within the command timeout and serve locally; thawed: shared again")
    func hungRedisDoesNotHangCalls() async throws {
        let server = try currentServer()
        let prefix = uniquePrefix("hung")
        let a = makeRegistry(server, pod: "a", slots: 2, prefix: prefix)
        await a.refresh()
        let one = try #require(await a.acquire(runID: "one").lease)

        server.pause()
        var answers: [Admission] = []
        for i in 0..<3 {
            let (answer, elapsed) = await timed { await a.acquire(runID: "p\(i)") }
            #expect(elapsed < callLimit, "acquire \(i) took \(elapsed)")
            answers.append(answer)
        }
        #expect(answers == [.granted(SlotLease(runID: "p0", slot: 1, pod: "a")), .full(retryAfterMs: 250), .full(retryAfterMs: 250)])
        let (health, elapsed) = await timed { await a.health() }
        #expect(elapsed < callLimit)
        #expect(health.mode == .degraded)
        let (_, releaseTime) = await timed { await a.release(one) }
        #expect(releaseTime < callLimit)

        server.resume()
        let thawed = ContinuousClock.now
        while await a.health().mode != .shared, ContinuousClock.now - thawed < .seconds(5) {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(await a.health().mode == .shared)
        #expect(try server.runID(prefix: prefix, pod: "a", slot: 1) == "p0")
        #expect(try server.liveLeaseCount(prefix: prefix, pod: "a") == 1, "the release made while Redis hung is applied")
        await a.shutdown()
    }

    @Test("a registry that cannot reach Redis at start is degraded and serves its own slots only, without waiting")
    func startsDegradedThenConnects() async throws {
        let port = try RedisTestServer.freePort()
        let registry = RedisRunRegistry(
            url: RedisURL(host: "127.0.0.1", port: port), pod: "lonely", slots: 1, leaseTTL: testTTL,
            keyPrefix: uniquePrefix("lonely"), retryAfterMs: 250, options: testOptions)
        let (health, elapsed) = await timed { await registry.refresh() }
        #expect(elapsed < callLimit)
        #expect(health.mode == .degraded)
        #expect(health.detail.contains("127.0.0.1:\(port)"))
        #expect(await registry.acquire(runID: "one").lease == SlotLease(runID: "one", slot: 0, pod: "lonely"))
        #expect(await registry.acquire(runID: "two") == .full(retryAfterMs: 250))
        await registry.shutdown()
    }
}
