import Runs
import Synchronization
import Testing

@testable import RedisStores

/// Three pods (a, b, c) on one Redis, each test under its own key prefix.
@Suite(
    "RedisRunRegistry", .enabled(if: RedisTestServer.isAvailable, "\(RedisTestServer.missingMessage)"), .redisServer,
    .timeLimit(.minutes(1)))
struct RedisRunRegistryTests {
    /// Three registries, connected and registered.
    private func cluster(_ server: RedisTestServer, prefix: String, slots: Int = 3) async -> [RedisRunRegistry] {
        let pods = ["a", "b", "c"].map { makeRegistry(server, pod: $0, slots: slots, prefix: prefix) }
        for pod in pods { await pod.refresh() }
        return pods
    }

    @Test("through one pod: its own slots first, then the live pod with the most room (ties by pod id), then full")
    func choosesOwnPodThenMostRoom() async throws {
        let server = try currentServer()
        let prefix = uniquePrefix("order")
        let pods = await cluster(server, prefix: prefix)
        for pod in pods { #expect(await pod.health().mode == .shared) }

        var granted: [SlotLease] = []
        for i in 0..<9 {
            let admission = await pods[0].acquire(runID: "r\(i)")
            granted.append(try #require(admission.lease, "acquire \(i) was refused: \(admission)"))
        }
        #expect(granted.map(\.pod) == ["a", "a", "a", "b", "c", "b", "c", "b", "c"])
        #expect(granted.map(\.slot) == [0, 1, 2, 0, 0, 1, 1, 2, 2])
        #expect(granted.map(\.runID) == (0..<9).map { "r\($0)" })
        #expect(await pods[0].acquire(runID: "r9") == .full(retryAfterMs: 250))
        for pod in pods { await pod.shutdown() }
    }

    @Test("nine concurrent acquires through pod a: three on each of a, b and c; the tenth is full")
    func nineConcurrentAcquiresThroughOnePod() async throws {
        let server = try currentServer()
        let prefix = uniquePrefix("nine")
        let pods = await cluster(server, prefix: prefix)
        let a = pods[0]

        let leases = await withTaskGroup(of: SlotLease?.self) { group in
            for i in 0..<9 { group.addTask { await a.acquire(runID: "run-\(i)").lease } }
            return await group.reduce(into: [SlotLease]()) { if let l = $1 { $0.append(l) } }
        }
        #expect(leases.count == 9)
        for pod in ["a", "b", "c"] {
            #expect(leases.filter { $0.pod == pod }.map(\.slot).sorted() == [0, 1, 2], "pod \(pod)")
            #expect(try server.liveLeaseCount(prefix: prefix, pod: pod) == 3, "pod \(pod), Redis side")
        }
        #expect(Set(leases.map(\.runID)).count == 9)
        #expect(await a.acquire(runID: "run-9") == .full(retryAfterMs: 250))
        #expect(await a.leases().count == 9)
        for pod in pods { await pod.shutdown() }
    }

    @Test("64 concurrent acquirers across three pods: exactly nine granted, never more than three on a pod")
    func sixtyFourAcquirersGetExactlyNine() async throws {
        let server = try currentServer()
        let prefix = uniquePrefix("64")
        let pods = await cluster(server, prefix: prefix)

        let leases = await withTaskGroup(of: SlotLease?.self) { group in
            for i in 0..<64 {
                let registry = pods[i % 3]
                group.addTask { await registry.acquire(runID: "run-\(i)").lease }
            }
            return await group.reduce(into: [SlotLease]()) { if let l = $1 { $0.append(l) } }
        }
        #expect(leases.count == 9)
        #expect(Set(leases.map { "\($0.pod)/\($0.slot)" }).count == 9, "no slot handed out twice")
        var held: [SlotLease] = []
        for pod in pods { held += await pod.leases() }
        #expect(Set(held) == Set(leases))
        for pod in ["a", "b", "c"] {
            #expect(leases.filter { $0.pod == pod }.count == 3, "pod \(pod)")
            #expect(try server.liveLeaseCount(prefix: prefix, pod: pod) == 3, "pod \(pod), Redis side")
        }
        for pod in pods { await pod.shutdown() }
    }

    @Test("a killed pod: its leases expire within the TTL, its slots come back, and it is no longer chosen")
    func killedPodsLeasesExpire() async throws {
        let server = try currentServer()
        let prefix = uniquePrefix("kill")
        let pods = await cluster(server, prefix: prefix)
        let (a, b, c) = (pods[0], pods[1], pods[2])

        // b takes its own three slots, then three on a and c; a takes the rest: every slot is busy.
        var bLeases: [SlotLease] = []
        for i in 0..<6 { bLeases.append(try #require(await b.acquire(runID: "b-run-\(i)").lease)) }
        #expect(bLeases.map(\.pod) == ["b", "b", "b", "a", "c", "a"])
        for i in 0..<3 { _ = try #require(await a.acquire(runID: "a-run-\(i)").lease) }
        #expect(await a.acquire(runID: "probe") == .full(retryAfterMs: 250))

        // SIGKILL, as far as Redis can tell: no release, no deregistration, no more heartbeats.
        await b.halt()
        let killed = ContinuousClock.now
        #expect(await a.acquire(runID: "too-soon") == .full(retryAfterMs: 250), "leases are not dropped before they expire")

        var regained: [SlotLease] = []
        while ContinuousClock.now - killed < testTTL + .seconds(2) {
            if let lease = await a.acquire(runID: "after-\(regained.count)").lease {
                regained.append(lease)
                if ContinuousClock.now - killed > testTTL + .seconds(1) { Issue.record("a slot came back late") }
            } else if regained.count == 3 {
                break
            } else {
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        #expect(regained.count == 3, "the three slots b held on a and c come back: \(regained)")
        #expect(regained.allSatisfy { $0.pod != "b" }, "the killed pod is never chosen: \(regained)")
        #expect(await a.acquire(runID: "one-more") == .full(retryAfterMs: 250), "never past the live pods' slots")
        #expect(try server.podIsLive(prefix: prefix, pod: "b") == false)
        #expect(try server.liveLeaseCount(prefix: prefix, pod: "b") == 0)
        #expect(await a.refresh().livePods == 2)
        await a.shutdown()
        await c.shutdown()
    }

    @Test("release is idempotent, and releasing a stale lease does not free the run now in that slot")
    func releaseIsIdempotentAndExact() async throws {
        let server = try currentServer()
        let prefix = uniquePrefix("release")
        let a = makeRegistry(server, pod: "a", slots: 2, prefix: prefix)
        await a.refresh()

        let first = try #require(await a.acquire(runID: "first").lease)
        #expect(first == SlotLease(runID: "first", slot: 0, pod: "a"))
        await a.release(first)
        await a.release(first)
        #expect(try server.liveLeaseCount(prefix: prefix, pod: "a") == 0)
        #expect(await a.leases().isEmpty)

        let second = try #require(await a.acquire(runID: "second").lease)
        #expect(second.slot == first.slot, "the freed slot is reused")
        await a.release(first)  // stale: slot 0 now belongs to "second"
        #expect(try server.liveLeaseCount(prefix: prefix, pod: "a") == 1)
        #expect(try server.runID(prefix: prefix, pod: "a", slot: 0) == "second")
        #expect(await a.leases() == [second])
        #expect(await a.acquire(runID: "third").lease?.slot == 1)
        #expect(await a.acquire(runID: "fourth") == .full(retryAfterMs: 250), "the stale release freed nothing")

        // A lease this registry never held, and one naming a pod that does not exist: no-ops.
        await a.release(SlotLease(runID: "nobody", slot: 1, pod: "a"))
        await a.release(SlotLease(runID: "second", slot: 0, pod: "zz"))
        #expect(try server.liveLeaseCount(prefix: prefix, pod: "a") == 2)
        await a.shutdown()
    }

    @Test("adopt: the pod a lease names confirms it and takes over its renewal; the acquirer's release is then a no-op")
    func adoptTakesOverRenewal() async throws {
        let server = try currentServer()
        let prefix = uniquePrefix("adopt")
        let a = makeRegistry(server, pod: "a", slots: 1, prefix: prefix)
        let b = makeRegistry(server, pod: "b", slots: 2, prefix: prefix)
        await a.refresh()
        await b.refresh()

        _ = try #require(await a.acquire(runID: "on-a").lease)
        let forwarded = try #require(await a.acquire(runID: "on-b").lease)
        #expect(forwarded == SlotLease(runID: "on-b", slot: 0, pod: "b"))
        #expect(try server.holder(prefix: prefix, pod: "b", slot: 0) == "a")

        #expect(await b.adopt(SlotLease(runID: "never-acquired", slot: 1, pod: "b")) == false)
        #expect(await b.adopt(SlotLease(runID: "on-a", slot: 0, pod: "a")) == false, "a lease naming another pod")
        #expect(await b.adopt(forwarded) == true)
        #expect(await b.adopt(forwarded) == true, "adopting twice is harmless")
        #expect(await b.leases() == [forwarded])
        #expect(try server.holder(prefix: prefix, pod: "b", slot: 0) == "b")

        // a's next heartbeat sees b holds it now and stops renewing it.
        await a.refresh()
        #expect(await a.leases().map(\.runID) == ["on-a"])
        // The acquirer releasing it (say, after its forward timed out) does not free b's running slot.
        await a.release(forwarded)
        #expect(try server.liveLeaseCount(prefix: prefix, pod: "b") == 1)

        // The acquirer dies; b keeps the adopted lease alive, while a's own lease expires.
        await a.halt()
        try await Task.sleep(for: testTTL + .milliseconds(500))
        #expect(try server.liveLeaseCount(prefix: prefix, pod: "b") == 1, "b renews what it adopted")
        #expect(try server.liveLeaseCount(prefix: prefix, pod: "a") == 0)

        await b.release(forwarded)
        #expect(try server.liveLeaseCount(prefix: prefix, pod: "b") == 0)
        #expect(await b.adopt(forwarded) == false, "no longer held")
        await b.shutdown()
    }

    @Test("health is shared with the live pod count; peers' advertised URLs are known")
    func healthAndPeers() async throws {
        let server = try currentServer()
        let prefix = uniquePrefix("peers")
        let a = makeRegistry(server, pod: "a", prefix: prefix)
        let b = makeRegistry(server, pod: "b", prefix: prefix)
        await b.refresh()
        let health = await a.refresh()
        #expect(health.mode == .shared)
        #expect(health.livePods == 2)
        #expect(health.detail.contains("redis://127.0.0.1:\(server.port)/0"))
        #expect(await a.peerURL(for: "b") == "http://b.test:8080")
        #expect(await a.peerURL(for: "a") == "http://a.test:8080")
        #expect(await a.peerURL(for: "nope") == nil)

        // A pod that shuts down deregisters at once.
        await b.shutdown()
        #expect(try server.podIsLive(prefix: prefix, pod: "b") == false)
        #expect(await a.refresh().livePods == 1)
        await a.shutdown()
        #expect(await a.acquire(runID: "after-shutdown") == .full(retryAfterMs: 250))
    }
}
