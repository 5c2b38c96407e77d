import Delegation
import Testing

@testable import RedisStores

@Suite(
    "RedisCapacityStore", .enabled(if: RedisTestServer.isAvailable, "\(RedisTestServer.missingMessage)"), .redisServer,
    .timeLimit(.minutes(1)))
struct RedisCapacityStoreTests {
    private func report(_ id: String, active: Int = 1, max: Int = 3, at: Double) -> CapacityReport {
        CapacityReport(agentID: id, activeTasks: active, maxTasks: max, reportedAt: at)
    }

    @Test("two stores (two hosts) on one Redis see each other's reports")
    func twoHostsSeeEachOther() async throws {
        let server = try currentServer()
        let prefix = uniquePrefix("capacity")
        let hostA = RedisCapacityStore(url: server.url, keyPrefix: prefix, options: testOptions)
        let hostB = RedisCapacityStore(url: server.url, keyPrefix: prefix, options: testOptions)
        try await hostA.put(report("architect", active: 2, max: 4, at: 1000.5))
        try await hostB.put(report("builder", active: 0, max: 2, at: 1001.25))
        let expected = [report("architect", active: 2, max: 4, at: 1000.5), report("builder", active: 0, max: 2, at: 1001.25)]
        #expect(try await hostA.reports(since: 0) == expected)
        #expect(try await hostB.reports(since: 0) == expected)

        // A newer report replaces the agent's previous one.
        try await hostB.put(report("architect", active: 3, max: 4, at: 1002))
        #expect(try await hostA.reports(since: 0).filter { $0.agentID == "architect" } == [report("architect", active: 3, max: 4, at: 1002)])

        // Another prefix is another deployment.
        let elsewhere = RedisCapacityStore(url: server.url, keyPrefix: uniquePrefix("other"), options: testOptions)
        #expect(try await elsewhere.reports(since: 0).isEmpty)
    }

    @Test("reports(since:) leaves out reports made before since")
    func sinceFiltersOldReports() async throws {
        let server = try currentServer()
        let store = RedisCapacityStore(url: server.url, keyPrefix: uniquePrefix("since"), options: testOptions)
        try await store.put(report("old", at: 100))
        try await store.put(report("edge", at: 200))
        try await store.put(report("new", at: 300))
        #expect(try await store.reports(since: 200).map(\.agentID) == ["edge", "new"])
        #expect(try await store.reports(since: 300.5).isEmpty)
        #expect(try await store.reports(since: 0).count == 3)
    }

    @Test("Redis down: .unavailable naming the URL, quickly")
    func unreachableRedisIsUnavailable() async throws {
        let port = try RedisTestServer.freePort()
        let url = RedisURL(host: "127.0.0.1", port: port)
        let store = RedisCapacityStore(url: url, keyPrefix: uniquePrefix("down"), options: testOptions)
        for attempt in 0..<2 {
            let start = ContinuousClock.now
            await #expect {
                try await store.put(report("x", at: 1))
            } throws: { error in
                guard case .unavailable(let why) = error as? CapacityStoreError else { return false }
                return why.contains("redis://127.0.0.1:\(port)/0") && why.contains("unreachable")
            }
            await #expect(throws: CapacityStoreError.self) { try await store.reports(since: 0) }
            #expect(ContinuousClock.now - start < .milliseconds(1500), "attempt \(attempt)")
        }
    }

    @Test("credentials Redis refuses: .unavailable saying so, without the password")
    func refusedCredentialsAreUnavailable() async throws {
        let server = try currentServer()
        var url = server.url
        url.password = "not-the-password"
        let store = RedisCapacityStore(url: url, keyPrefix: uniquePrefix("auth"), options: testOptions)
        await #expect {
            try await store.reports(since: 0)
        } throws: { error in
            guard case .unavailable(let why) = error as? CapacityStoreError else { return false }
            return why.contains("refused the credentials") && why.contains("redis://:***@127.0.0.1:\(server.port)/0")
                && !why.contains("not-the-password")
        }
    }
}
