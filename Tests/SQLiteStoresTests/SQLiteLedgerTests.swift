import Costs
import SQLiteStores
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

func run(
    _ id: String, agent: String = "cto", cost: Double? = 0.01, at time: Double = 1_796_083_200, usage: TokenUsage = TokenUsage(input: 10, output: 5)
) -> LedgerEntry {
    LedgerEntry(
        runID: id, agent: agent, task: "summarize-logs", adapter: "gemini", model: "gemini-2.5-flash-lite", tier: .cheap,
        rule: "task:summarize*", status: "OK", usage: usage, costUSD: cost, costSource: cost == nil ? .unknown : .computed,
        durationMs: 1500, pod: "pod-a", time: time)
}

@Suite("SQLiteLedger")
struct SQLiteLedgerTests {
    @Test func recordThenReadBackEveryField() async throws {
        let dir = try TempDir(label: "sqlite-test")
        defer { dir.remove() }
        let ledger = SQLiteLedger(path: SQLiteLedger.path(stateDir: dir.path))
        let full = LedgerEntry(
            runID: "run-1", agent: "cto", task: "design-api", adapter: "claude", model: "sonnet", tier: .standard,
            rule: "default", status: "OK", usage: TokenUsage(input: 1200, output: 340, cacheRead: 56_000, cacheWrite: 7),
            costUSD: 0.0421, costSource: .reported, durationMs: 98_765, pod: "pool-0", time: 1_796_083_200.25)
        let sparse = LedgerEntry(
            runID: "run-2", agent: LedgerEntry.noAgent, task: "x", adapter: "command", model: nil, tier: nil, rule: "hint",
            status: "BUDGET_EXCEEDED", usage: TokenUsage(), costUSD: nil, costSource: .unknown, durationMs: 0, pod: nil,
            time: 1_796_083_201)
        try await ledger.record(full)
        try await ledger.record(sparse)
        #expect(try await ledger.entries(since: 0) == [full, sparse])
        #expect(fileExists(dir.file("ledger.sqlite3")))
    }

    @Test func recordingARunAgainReplacesIt() async throws {
        let dir = try TempDir(label: "sqlite-test")
        defer { dir.remove() }
        let ledger = SQLiteLedger(path: dir.file("ledger.sqlite3"))
        try await ledger.record(run("r", cost: 1))
        var again = run("r", cost: 2)
        again.status = "FAILED"
        try await ledger.record(again)
        #expect(try await ledger.entries(since: 0) == [again])
    }

    @Test func entriesSinceAreInclusiveAndOldestFirst() async throws {
        let dir = try TempDir(label: "sqlite-test")
        defer { dir.remove() }
        let ledger = SQLiteLedger(path: dir.file("ledger.sqlite3"))
        try await ledger.record(run("c", at: 300))
        try await ledger.record(run("a", at: 100))
        try await ledger.record(run("b", at: 200))
        #expect(try await ledger.entries(since: 200).map(\.runID) == ["b", "c"])
        #expect(try await ledger.entries(since: 0).map(\.runID) == ["a", "b", "c"])
        #expect(try await ledger.entries(since: 300.5).isEmpty)
    }

    @Test func spendSumsKnownCostsOfOneAgentSinceATime() async throws {
        let dir = try TempDir(label: "sqlite-test")
        defer { dir.remove() }
        let ledger = SQLiteLedger(path: dir.file("ledger.sqlite3"))
        try await ledger.record(run("old", agent: "cto", cost: 5, at: 50))
        try await ledger.record(run("a", agent: "cto", cost: 0.25, at: 100))
        try await ledger.record(run("b", agent: "cto", cost: nil, at: 110))
        try await ledger.record(run("c", agent: "cto", cost: 0.5, at: 120))
        try await ledger.record(run("d", agent: "cfo", cost: 9, at: 130))
        #expect(try await ledger.spend(agent: "cto", since: 100) == 0.75)
        #expect(try await ledger.spend(agent: "cto", since: 0) == 5.75)
        #expect(try await ledger.spend(agent: "nobody", since: 0) == 0)
    }

    @Test func anEmptyLedgerHasNoRunsAndNoSpend() async throws {
        let dir = try TempDir(label: "sqlite-test")
        defer { dir.remove() }
        let ledger = SQLiteLedger(path: dir.file("ledger.sqlite3"))
        #expect(try await ledger.entries(since: 0).isEmpty)
        #expect(try await ledger.spend(agent: "cto", since: 0) == 0)
    }

    @Test func manyConcurrentWritesFromSeveralInstancesAllLand() async throws {
        let dir = try TempDir(label: "sqlite-test")
        defer { dir.remove() }
        let path = dir.file("ledger.sqlite3")
        let ledgers = (0..<4).map { _ in SQLiteLedger(path: path) }
        let perLedger = 125
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (l, ledger) in ledgers.enumerated() {
                for i in 0..<perLedger {
                    group.addTask {
                        try await ledger.record(run("run-\(l)-\(i)", agent: "agent-\(l)", cost: 0.001, at: Double(1000 + i)))
                    }
                    // Reads interleaved with the writes must not fail or block them.
                    if i % 25 == 0 { group.addTask { _ = try await ledger.spend(agent: "agent-\(l)", since: 0) } }
                }
            }
            try await group.waitForAll()
        }
        for ledger in ledgers {
            let all = try await ledger.entries(since: 0)
            #expect(all.count == 4 * perLedger)
            #expect(Set(all.map(\.runID)).count == 4 * perLedger)
        }
        for l in 0..<4 {
            let spend = try await ledgers[(l + 1) % 4].spend(agent: "agent-\(l)", since: 0)
            #expect(abs(spend - 0.125) < 1e-9)
        }
    }

    @Test func aLedgerThatCannotBeOpenedFailsWithAMessageNamingTheFile() async throws {
        let dir = try TempDir(label: "sqlite-test")
        defer { dir.remove() }
        let blocker = dir.file("plain-file")
        let fd = open(blocker, O_CREAT | O_WRONLY, 0o600)
        try #require(fd >= 0)
        close(fd)
        let path = blocker + "/ledger.sqlite3"
        let ledger = SQLiteLedger(path: path)
        let error = await #expect(throws: LedgerError.self) { try await ledger.record(run("r")) }
        #expect(error?.message.contains(path) == true)
        await #expect(throws: LedgerError.self) { try await ledger.entries(since: 0) }
        await #expect(throws: LedgerError.self) { try await ledger.spend(agent: "cto", since: 0) }
        // It recovers once the path becomes usable.
        unlink(blocker)
        try await ledger.record(run("r"))
        #expect(try await ledger.entries(since: 0).map(\.runID) == ["r"])
    }

    @Test func budgetsAndReportsWorkOverTheSQLiteLedger() async throws {
        let dir = try TempDir(label: "sqlite-test")
        defer { dir.remove() }
        let path = dir.file("ledger.sqlite3")
        let writer = SQLiteLedger(path: path), reader = SQLiteLedger(path: path)
        let day: Double = 1_796_083_200
        try await writer.record(run("a", agent: "cto", cost: 0.6, at: day + 10))
        let policy = BudgetPolicy(defaultLimits: BudgetLimits(dailyUSD: 1, onExceed: .refuse))
        let route = RoutingPolicy.defaults.route(task: "design-api", adapter: nil, modelHint: nil)
        #expect(try await policy.check(agent: "cto", route: route, ledger: reader, now: day + 20) == .allow(route))
        try await writer.record(run("b", agent: "cto", cost: 0.6, at: day + 30))
        #expect(try await policy.check(agent: "cto", route: route, ledger: reader, now: day + 40).route == nil)
        let report = CostReport.make(entries: try await reader.entries(since: 0), by: .agent, prices: .defaults, routing: .defaults)
        #expect(report.totals.runs == 2)
        #expect(abs(report.totals.spendUSD - 1.2) < 1e-12)
    }
}
