import Delegation
import Synchronization
import Testing

/// A clock the test moves by hand.
final class ManualClock: Sendable {
    private let seconds: Mutex<Double>
    init(_ start: Double) { seconds = Mutex(start) }
    var now: Double { seconds.withLock { $0 } }
    func set(_ value: Double) { seconds.withLock { $0 = value } }
    func advance(_ by: Double) { seconds.withLock { $0 += by } }
}

@Suite("CapacityTracker")
struct CapacityTrackerTests {
    let chart: OrgChart
    let store = InMemoryCapacityStore()
    let clock = ManualClock(10_000)

    init() throws {
        chart = try OrgChart([
            Agent(id: "ceo", maxConcurrent: 2),
            Agent(id: "cto", reportsTo: "ceo", maxConcurrent: 5),
            Agent(id: "cfo", reportsTo: "ceo", maxConcurrent: 2),
            Agent(id: "devops", reportsTo: "cto", maxConcurrent: 3),
        ])
    }

    func tracker(ttl: Double = 600, maxHops: Int = 3) -> CapacityTracker {
        let clock = self.clock
        return CapacityTracker(chart: chart, store: store, reportTTL: ttl, maxHops: maxHops, now: { clock.now })
    }

    @Test func reportIsStampedWithTheInjectedClock() async throws {
        let report = try await tracker().report(agentID: "cto", activeTasks: 1, maxTasks: 4)
        #expect(report == CapacityReport(agentID: "cto", activeTasks: 1, maxTasks: 4, reportedAt: 10_000))
        let stored = try await store.reports(since: 0)
        #expect(stored == [report])
    }

    @Test func maxTasksDefaultsToTheChartsMaxConcurrent() async throws {
        let t = tracker()
        #expect(try await t.report(agentID: "cto", activeTasks: 0, maxTasks: nil).maxTasks == 5)
        #expect(try await t.report(agentID: "cfo", activeTasks: 0, maxTasks: nil).maxTasks == 2)
        #expect(try await t.report(agentID: "cfo", activeTasks: 0, maxTasks: 9).maxTasks == 9)
        #expect(try await t.availability()["cto"] == .reported(Load(active: 0, max: 5)))
    }

    @Test func negativeActiveTasksAreRejected() async throws {
        let error = await #expect(throws: DelegationError.self) {
            try await tracker().report(agentID: "cto", activeTasks: -1, maxTasks: nil)
        }
        guard case .invalidLoad(let message) = error else {
            Issue.record("expected invalidLoad, got \(String(describing: error))")
            return
        }
        #expect(message.contains("active_tasks"))
        #expect(try await store.reports(since: 0).isEmpty)
    }

    @Test func maxTasksBelowOneIsRejected() async {
        await #expect(throws: DelegationError.self) {
            try await tracker().report(agentID: "cto", activeTasks: 0, maxTasks: 0)
        }
    }

    @Test func unknownAgentErrorListsKnownIDs() async throws {
        let error = await #expect(throws: DelegationError.self) {
            try await tracker().report(agentID: "intern", activeTasks: 0, maxTasks: nil)
        }
        #expect(error == .unknownAgent("intern", known: ["ceo", "cfo", "cto", "devops"]))
        let text = try #require(error).description
        #expect(text.contains("\"intern\""))
        #expect(text.contains("ceo, cfo, cto, devops"))
        #expect(text.contains("ROLE_ID"))

        await #expect(throws: DelegationError.unknownAgent("intern", known: ["ceo", "cfo", "cto", "devops"])) {
            try await tracker().shouldDelegate(agentID: "intern", priority: .normal, chain: [])
        }
        await #expect(throws: DelegationError.unknownAgent("intern", known: ["ceo", "cfo", "cto", "devops"])) {
            try await tracker().recommend(agentID: "intern", priority: .normal, chain: [])
        }
    }

    @Test func reportExactlyTTLOldIsStillFresh() async throws {
        let t = tracker(ttl: 600)
        _ = try await t.report(agentID: "cto", activeTasks: 1, maxTasks: nil)
        clock.advance(600)
        #expect(try await t.availability()["cto"] == .reported(Load(active: 1, max: 5)))
    }

    @Test func reportOlderThanTTLExpires() async throws {
        let t = tracker(ttl: 600)
        _ = try await t.report(agentID: "cto", activeTasks: 1, maxTasks: nil)
        clock.advance(600.5)
        #expect(try await t.availability()["cto"] == .unavailable)
        // An expired report no longer lets the agent do the work itself.
        let decision = try await t.shouldDelegate(agentID: "cto", priority: .normal, chain: [])
        #expect(decision.action != .doItYourself)
    }

    @Test func newerReportReplacesTheOlderOne() async throws {
        let t = tracker(ttl: 600)
        _ = try await t.report(agentID: "cto", activeTasks: 1, maxTasks: nil)
        clock.advance(500)
        _ = try await t.report(agentID: "cto", activeTasks: 4, maxTasks: nil)
        clock.advance(500)  // the first report would be stale now; the second is not
        #expect(try await t.availability()["cto"] == .reported(Load(active: 4, max: 5)))
        #expect(try await store.reports(since: 0).count == 1)
    }

    @Test func availabilityListsEveryChartAgentAndIgnoresStrangers() async throws {
        try await store.put(CapacityReport(agentID: "stranger", activeTasks: 0, maxTasks: 3, reportedAt: clock.now))
        _ = try await tracker().report(agentID: "devops", activeTasks: 2, maxTasks: nil)
        let availability = try await tracker().availability()
        #expect(availability.keys.sorted() == ["ceo", "cfo", "cto", "devops"])
        #expect(availability["devops"] == .reported(Load(active: 2, max: 3)))
        #expect(availability["ceo"] == .unavailable)
        #expect(availability["stranger"] == nil)
    }

    @Test func shouldDelegateAnswersFromFreshReports() async throws {
        let t = tracker()
        _ = try await t.report(agentID: "cto", activeTasks: 5, maxTasks: nil)
        _ = try await t.report(agentID: "devops", activeTasks: 0, maxTasks: nil)
        let d = try await t.shouldDelegate(agentID: "cto", priority: .normal, chain: [])
        #expect(d.action == .delegateToReport)
        #expect(d.delegateTo == "devops")
        // Once devops's report is stale, nobody has room.
        clock.advance(601)
        _ = try await t.report(agentID: "cto", activeTasks: 5, maxTasks: nil)
        #expect(try await t.shouldDelegate(agentID: "cto", priority: .normal, chain: []).action == .spawnWorker)
    }

    @Test func recommendNeverAnswersYourself() async throws {
        let t = tracker()
        _ = try await t.report(agentID: "cto", activeTasks: 0, maxTasks: nil)
        _ = try await t.report(agentID: "cfo", activeTasks: 0, maxTasks: nil)
        #expect(try await t.shouldDelegate(agentID: "cto", priority: .normal, chain: []).action == .doItYourself)
        let r = try await t.recommend(agentID: "cto", priority: .normal, chain: [])
        #expect(r.action == .delegateToSibling)
        #expect(r.delegateTo == "cfo")
    }

    @Test func trackersMaxHopsIsPassedToThePolicy() async throws {
        let t = tracker(maxHops: 1)
        _ = try await t.report(agentID: "cto", activeTasks: 0, maxTasks: nil)
        #expect(try await t.shouldDelegate(agentID: "cto", priority: .normal, chain: ["ceo"]).action == .spawnWorker)
        #expect(try await t.shouldDelegate(agentID: "cto", priority: .normal, chain: []).action == .doItYourself)
    }

    @Test func inMemoryStoreFiltersBySinceInclusivelyAndSortsByID() async throws {
        let store = InMemoryCapacityStore()
        try await store.put(CapacityReport(agentID: "b", activeTasks: 0, maxTasks: 1, reportedAt: 100))
        try await store.put(CapacityReport(agentID: "a", activeTasks: 0, maxTasks: 1, reportedAt: 200))
        try await store.put(CapacityReport(agentID: "c", activeTasks: 0, maxTasks: 1, reportedAt: 50))
        #expect(try await store.reports(since: 100).map(\.agentID) == ["a", "b"])
        #expect(try await store.reports(since: 0).map(\.agentID) == ["a", "b", "c"])
        #expect(try await store.reports(since: 200.5).isEmpty)
    }
}
