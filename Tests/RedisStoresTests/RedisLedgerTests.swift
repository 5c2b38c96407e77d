import Costs
import JSON
import Testing

@testable import RedisStores

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Unix seconds now, as the ledger's callers stamp entries.
private func unixNow() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

private func entry(
    _ id: String, agent: String = "cto", cost: Double? = nil, at time: Double, status: String = "OK"
) -> LedgerEntry {
    LedgerEntry(
        runID: id, agent: agent, task: "t", adapter: "claude", model: "sonnet", tier: .standard, rule: "default", status: status,
        usage: TokenUsage(input: 10, output: 5), costUSD: cost, costSource: cost == nil ? .unknown : .reported, durationMs: 100,
        pod: "local", time: time)
}

private func makeLedger(_ server: RedisTestServer, prefix: String) -> RedisLedger {
    RedisLedger(url: server.url, keyPrefix: prefix, options: testOptions)
}

@Suite(
    "RedisLedger", .enabled(if: RedisTestServer.isAvailable, "\(RedisTestServer.missingMessage)"), .redisServer,
    .timeLimit(.minutes(1)))
struct RedisLedgerTests {
    @Test("every field round-trips, set and unset; the stream record is readable")
    func roundTripsEveryField() async throws {
        let server = try currentServer()
        let prefix = uniquePrefix("ledger-fields")
        let ledger = makeLedger(server, prefix: prefix)
        let full = LedgerEntry(
            runID: "r-full", agent: "fullstack", task: "design \"api\" — ünïcode ✓", adapter: "gemini", model: "gemini-2.5-flash-lite",
            tier: .cheap, rule: "task:summarize*", status: "BUDGET_EXCEEDED",
            usage: TokenUsage(input: 123_456, output: 7_890, cacheRead: 42, cacheWrite: 0), costUSD: 0.012_345_678_901_234_5,
            costSource: .computed, durationMs: 98_765, pod: "pod-a", time: 1_700_000_000.123_456)
        let sparse = LedgerEntry(
            runID: "r-sparse", agent: LedgerEntry.noAgent, task: "", adapter: "command", model: nil, tier: nil, rule: "",
            status: "FAILED", time: 1_700_000_001.5)
        let notRun = LedgerEntry(
            runID: "r-notrun", agent: "cfo", task: "x", adapter: "codex", model: "gpt-9", tier: .frontier, rule: "hint",
            status: "POOL_BUSY", costUSD: 0, costSource: .notRun, time: 1_700_000_002)
        for e in [notRun, full, sparse] { try await ledger.record(e) }
        #expect(try await ledger.entries(since: 0) == [full, sparse, notRun])

        let stream = try #require(server.command("XRANGE", prefix + "ledger", "-", "+").array)
        #expect(stream.count == 3)
        let fields = try #require(stream.first?.array?.last?.array).compactMap(\.string)
        var readable: [String: String] = [:]
        for i in stride(from: 0, to: fields.count - 1, by: 2) { readable[fields[i]] = fields[i + 1] }
        #expect(readable["run_id"] == "r-notrun")
        #expect(readable["agent"] == "cfo")
        #expect(readable["time"].flatMap(Double.init) == 1_700_000_002)
        #expect(try JSON.parse(try #require(readable["entry"]))["status"] == .string("POOL_BUSY"))
    }

    @Test("recording a run id again replaces it: one row, the latest, counted once")
    func upsertsByRunID() async throws {
        let server = try currentServer()
        let ledger = makeLedger(server, prefix: uniquePrefix("ledger-upsert"))
        try await ledger.record(entry("r1", cost: 1.0, at: 1000, status: "FAILED"))
        try await ledger.record(entry("r2", cost: 0.5, at: 1001))
        let retried = entry("r1", cost: 2.0, at: 1002)
        try await ledger.record(retried)
        #expect(try await ledger.entries(since: 0) == [entry("r2", cost: 0.5, at: 1001), retried])
        #expect(try await ledger.spend(agent: "cto", since: 0) == 2.5)

        // The latest record wins even when it is older than `since`: the run drops out of the window.
        try await ledger.record(entry("r2", cost: 0.5, at: 10))
        #expect(try await ledger.entries(since: 500).map(\.runID) == ["r1"])
        #expect(try await ledger.spend(agent: "cto", since: 500) == 2.0)

        // ...and when the latest moved the run to another agent.
        try await ledger.record(entry("r1", agent: "cfo", cost: 2.0, at: 1002))
        #expect(try await ledger.spend(agent: "cto", since: 0) == 0.5)
        #expect(try await ledger.spend(agent: "cfo", since: 0) == 2.0)
    }

    @Test("entries(since:) leaves out runs before since, oldest first")
    func sinceFilters() async throws {
        let server = try currentServer()
        let ledger = makeLedger(server, prefix: uniquePrefix("ledger-since"))
        let now = unixNow()
        try await ledger.record(entry("new", at: now))
        try await ledger.record(entry("old", at: 100))
        try await ledger.record(entry("edge", at: 200))
        try await ledger.record(entry("hour-ago", at: now - 3600))
        #expect(try await ledger.entries(since: 200).map(\.runID) == ["edge", "hour-ago", "new"])
        #expect(try await ledger.entries(since: now - 60).map(\.runID) == ["new"])
        #expect(try await ledger.entries(since: now + 1).isEmpty)
        #expect(try await ledger.entries(since: -.infinity).count == 4)
        #expect(try await ledger.entries(since: .infinity).isEmpty)
        #expect(try await ledger.entries(since: .nan).isEmpty)
    }

    @Test("entries(since:) reads the stream from since's stream id (less the clock-skew allowance), in pages")
    func readsFromTheStreamIDForSince() async throws {
        let server = try currentServer()
        let prefix = uniquePrefix("ledger-range")
        let ledger = makeLedger(server, prefix: prefix)
        let now = unixNow()
        // A record added (by Redis's clock) long before `since` is not read, whatever its own time says.
        let stale = RedisLedger.json(of: entry("added-long-ago", at: now)).text
        _ = try server.command("XADD", prefix + "ledger", "1000-0", "entry", stale, "run_id", "added-long-ago", "agent", "cto")
        // More records than one XRANGE page.
        for i in 0..<(RedisLedger.pageSize + 5) { try await ledger.record(entry("p\(i)", cost: 0.001, at: now)) }
        let recent = try await ledger.entries(since: now - 10)
        #expect(recent.count == RedisLedger.pageSize + 5)
        #expect(!recent.contains { $0.runID == "added-long-ago" })
        #expect(try await ledger.entries(since: 0).count == RedisLedger.pageSize + 6)
        #expect(abs(try await ledger.spend(agent: "cto", since: now - 10) - Double(RedisLedger.pageSize + 5) * 0.001) < 1e-9)

        #expect(RedisLedger.startID(since: 0) == "-")
        #expect(RedisLedger.startID(since: 1_700_000_000.5) == "\(1_700_000_000_500 - 300_000)-0")
        #expect(RedisLedger.startID(since: .infinity) == nil)
    }

    @Test("spend(agent:since:) sums known costs of that agent's runs since")
    func spendPerAgent() async throws {
        let server = try currentServer()
        let ledger = makeLedger(server, prefix: uniquePrefix("ledger-spend"))
        try await ledger.record(entry("a1", agent: "cto", cost: 0.5, at: 1000))
        try await ledger.record(entry("a2", agent: "cto", cost: 0.25, at: 1001))
        try await ledger.record(entry("a3", agent: "cto", cost: nil, at: 1002))
        try await ledger.record(entry("a-old", agent: "cto", cost: 10, at: 10))
        try await ledger.record(entry("b1", agent: "cfo", cost: 1.0, at: 1000))
        #expect(try await ledger.spend(agent: "cto", since: 500) == 0.75)
        #expect(try await ledger.spend(agent: "cto", since: 0) == 10.75)
        #expect(try await ledger.spend(agent: "cfo", since: 500) == 1.0)
        #expect(try await ledger.spend(agent: "nobody", since: 0) == 0)
    }

    @Test("two ledgers (two hosts) on one Redis see each other's runs; another prefix is another deployment")
    func twoHostsSeeEachOther() async throws {
        let server = try currentServer()
        let prefix = uniquePrefix("ledger-hosts")
        let hostA = makeLedger(server, prefix: prefix)
        let hostB = makeLedger(server, prefix: prefix)
        let a = entry("from-a", agent: "cto", cost: 0.1, at: 1000)
        let b = entry("from-b", agent: "cto", cost: 0.2, at: 1001)
        try await hostA.record(a)
        try await hostB.record(b)
        #expect(try await hostA.entries(since: 0) == [a, b])
        #expect(try await hostB.entries(since: 0) == [a, b])
        #expect(abs(try await hostA.spend(agent: "cto", since: 0) - 0.3) < 1e-12)
        #expect(try await makeLedger(server, prefix: uniquePrefix("other")).entries(since: 0).isEmpty)
    }

    @Test("concurrent records from several ledgers all land")
    func concurrentRecordsAllLand() async throws {
        let server = try currentServer()
        let prefix = uniquePrefix("ledger-concurrent")
        let hosts = (0..<4).map { _ in makeLedger(server, prefix: prefix) }
        let perHost = 25
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (h, ledger) in hosts.enumerated() {
                for i in 0..<perHost {
                    group.addTask { try await ledger.record(entry("h\(h)-\(i)", agent: "agent\(h)", cost: 0.01, at: 1000 + Double(i))) }
                }
            }
            try await group.waitForAll()
        }
        let all = try await hosts[0].entries(since: 0)
        #expect(all.count == hosts.count * perHost)
        #expect(Set(all.map(\.runID)).count == hosts.count * perHost)
        for h in hosts.indices {
            #expect(abs(try await hosts[3 - h].spend(agent: "agent\(h)", since: 0) - 0.25) < 1e-9)
        }
    }

    @Test("Redis down: LedgerError naming the URL, quickly, every call")
    func unreachableRedisFailsFast() async throws {
        let port = try RedisTestServer.freePort()
        let ledger = RedisLedger(url: RedisURL(host: "127.0.0.1", port: port), keyPrefix: uniquePrefix("down"), options: testOptions)
        let named = { (error: any Error) -> Bool in
            guard let e = error as? LedgerError else { return false }
            return e.message.contains("redis://127.0.0.1:\(port)/0") && e.message.contains("unreachable")
        }
        for attempt in 0..<3 {
            let start = ContinuousClock.now
            await #expect { try await ledger.record(entry("x", at: 1)) } throws: { named($0) }
            #expect(ContinuousClock.now - start < .milliseconds(1500), "record, attempt \(attempt)")
            let read = ContinuousClock.now
            await #expect { try await ledger.entries(since: 0) } throws: { named($0) }
            await #expect { try await ledger.spend(agent: "cto", since: 0) } throws: { named($0) }
            #expect(ContinuousClock.now - read < .milliseconds(1500), "reads, attempt \(attempt)")
            try await Task.sleep(for: .milliseconds(150))
        }
    }

    @Test("credentials Redis refuses: LedgerError saying so, without the password")
    func refusedCredentials() async throws {
        let server = try currentServer()
        var url = server.url
        url.password = "not-the-password"
        let ledger = RedisLedger(url: url, keyPrefix: uniquePrefix("auth"), options: testOptions)
        await #expect {
            try await ledger.record(entry("x", at: 1))
        } throws: { error in
            guard let e = error as? LedgerError else { return false }
            return e.message.contains("refused the credentials") && e.message.contains("redis://:***@127.0.0.1:\(server.port)/0")
                && !e.description.contains("not-the-password")
        }
    }

    @Test("a key of another type: LedgerError saying Redis refused, and the ledger keeps working once fixed")
    func wrongTypeIsRefused() async throws {
        let server = try currentServer()
        let prefix = uniquePrefix("wrongtype")
        _ = try server.command("SET", prefix + "ledger", "not a stream")
        let ledger = makeLedger(server, prefix: prefix)
        await #expect { try await ledger.record(entry("x", at: 1)) } throws: { error in
            (error as? LedgerError)?.message.contains("refused the ledger entry") ?? false
        }
        await #expect { try await ledger.entries(since: 0) } throws: { error in
            (error as? LedgerError)?.message.contains("refused to read the ledger") ?? false
        }
        _ = try server.command("DEL", prefix + "ledger")
        try await ledger.record(entry("x", at: 1))
        #expect(try await ledger.entries(since: 0).map(\.runID) == ["x"])
    }
}

/// Stops and restarts its own redis-server.
@Suite(
    "RedisLedger when Redis goes away", .enabled(if: RedisTestServer.isAvailable, "\(RedisTestServer.missingMessage)"),
    .redisServer, .serialized, .timeLimit(.minutes(1)))
struct RedisLedgerOutageTests {
    @Test("Redis restarted: the stale connection is replaced; Redis down: fast errors; back: records land again")
    func survivesRestarts() async throws {
        let server = try currentServer()
        let ledger = makeLedger(server, prefix: uniquePrefix("ledger-outage"))
        try await ledger.record(entry("before", at: 1000))

        // A restart between calls: the next call reconnects by itself.
        server.stop()
        try await server.start()
        try await ledger.record(entry("after-restart", at: 1001))
        #expect(try await ledger.entries(since: 0).map(\.runID) == ["after-restart"], "the restarted Redis kept nothing")

        server.stop()
        for _ in 0..<3 {
            let (_, took) = await timed { await #expect(throws: LedgerError.self) { try await ledger.record(entry("lost", at: 1002)) } }
            #expect(took < .milliseconds(1500))
        }

        try await server.start()
        let restarted = ContinuousClock.now
        var landed = false
        while !landed, ContinuousClock.now - restarted < .seconds(5) {
            do {
                try await ledger.record(entry("back", at: 1003))
                landed = true
            } catch {
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        #expect(landed, "records land again once Redis is back (after the backoff)")
        #expect(try await ledger.entries(since: 0).map(\.runID) == ["back"])
    }
}
