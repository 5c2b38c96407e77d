import Delegation
import Testing

@Suite("DelegationPriority.fits")
struct PriorityFitsTests {
    @Test func lowNeedsUnderHalfBusy() {
        #expect(DelegationPriority.low.fits(Load(active: 0, max: 4)))
        #expect(DelegationPriority.low.fits(Load(active: 1, max: 4)))
        #expect(!DelegationPriority.low.fits(Load(active: 2, max: 4)))  // exactly 50%
        #expect(!DelegationPriority.low.fits(Load(active: 3, max: 4)))
        #expect(DelegationPriority.low.fits(Load(active: 4, max: 10)))
        #expect(!DelegationPriority.low.fits(Load(active: 5, max: 10)))
    }

    @Test func normalNeedsUnderThreeQuartersBusy() {
        #expect(DelegationPriority.normal.fits(Load(active: 2, max: 4)))
        #expect(!DelegationPriority.normal.fits(Load(active: 3, max: 4)))  // exactly 75%
        #expect(DelegationPriority.normal.fits(Load(active: 7, max: 10)))
        #expect(!DelegationPriority.normal.fits(Load(active: 8, max: 10)))
    }

    @Test(arguments: [DelegationPriority.high, .critical])
    func highAndCriticalTakeAnyFreeSlot(priority: DelegationPriority) {
        #expect(priority.fits(Load(active: 3, max: 4)))
        #expect(priority.fits(Load(active: 99, max: 100)))
        #expect(!priority.fits(Load(active: 4, max: 4)))
        #expect(!priority.fits(Load(active: 5, max: 4)))
    }

    @Test(arguments: DelegationPriority.allCases)
    func atLeastOneFreeSlotIsAlwaysRequired(priority: DelegationPriority) {
        #expect(!priority.fits(Load(active: 1, max: 1)))
        #expect(!priority.fits(Load(active: 0, max: 0)))
        #expect(!priority.fits(Load(active: 7, max: 3)))
        #expect(priority.fits(Load(active: 0, max: 1)))
    }

    @Test func freeIsNeverNegative() {
        #expect(Load(active: 5, max: 3).free == 0)
        #expect(Load(active: 1, max: 3).free == 2)
    }
}

@Suite("DelegationPolicy.decide")
struct DelegationPolicyTests {
    // ceo
    //  ├ cto ── architect, devops, fullstack
    //  ├ cfo
    //  └ cso
    let chart: OrgChart

    init() throws {
        chart = try OrgChart([
            Agent(id: "ceo"),
            Agent(id: "cto", reportsTo: "ceo"),
            Agent(id: "cfo", reportsTo: "ceo"),
            Agent(id: "cso", reportsTo: "ceo"),
            Agent(id: "architect", reportsTo: "cto"),
            Agent(id: "devops", reportsTo: "cto"),
            Agent(id: "fullstack", reportsTo: "cto"),
        ])
    }

    static let full = AgentAvailability.reported(Load(active: 4, max: 4))
    static func free(_ n: Int, of max: Int = 4) -> AgentAvailability { .reported(Load(active: max - n, max: max)) }

    func decide(
        _ caller: String, _ availability: [String: AgentAvailability], priority: DelegationPriority = .normal,
        chain: [String] = [], maxHops: Int = 3, considerSelf: Bool = true
    ) -> DelegationDecision {
        DelegationPolicy.decide(
            caller: caller, chart: chart, availability: availability, priority: priority, chain: chain,
            maxHops: maxHops, considerSelf: considerSelf)
    }

    @Test func selfWithCapacityComesFirst() {
        let d = decide("cto", ["cto": Self.free(4), "architect": Self.free(4), "cfo": Self.free(4)])
        #expect(d.action == .doItYourself)
        #expect(d.delegateTo == nil)
        #expect(d.agentID == "cto")
        #expect(!d.shouldDelegate)
        #expect(d.targetLoad == Load(active: 0, max: 4))
    }

    @Test func reportComesBeforeSibling() {
        let d = decide("cto", ["cto": Self.full, "architect": Self.free(2), "cfo": Self.free(4)])
        #expect(d.action == .delegateToReport)
        #expect(d.delegateTo == "architect")
        #expect(d.shouldDelegate)
    }

    @Test func siblingWhenNoReportHasRoom() {
        let d = decide("cto", ["cto": Self.full, "architect": Self.full, "devops": Self.full, "cfo": Self.free(2)])
        #expect(d.action == .delegateToSibling)
        #expect(d.delegateTo == "cfo")
        #expect(d.targetLoad == Load(active: 2, max: 4))
    }

    @Test func spawnWorkerWhenNobodyHasRoom() {
        let everyoneFull = Dictionary(uniqueKeysWithValues: chart.ids.map { ($0, Self.full) })
        let d = decide("cto", everyoneFull)
        #expect(d.action == .spawnWorker)
        #expect(d.delegateTo == nil)
        #expect(d.targetLoad == nil)
        #expect(d.reason.contains("spawn a pool worker"))
    }

    @Test func mostFreeCapacityWinsAmongReports() {
        let d = decide(
            "cto", ["cto": Self.full, "architect": Self.free(1), "devops": Self.free(3), "fullstack": Self.free(2)],
            priority: .high)
        #expect(d.delegateTo == "devops")
    }

    @Test func mostFreeCapacityIsAbsoluteSlotsNotFraction() {
        // architect: 2 of 2 free (0% busy); devops: 3 of 10 free (70% busy). Most free slots wins.
        let d = decide(
            "cto",
            [
                "cto": Self.full, "architect": .reported(Load(active: 0, max: 2)),
                "devops": .reported(Load(active: 7, max: 10)),
            ], priority: .high)
        #expect(d.delegateTo == "devops")
    }

    @Test func tiesAreBrokenByID() {
        let d = decide("cto", ["cto": Self.full, "fullstack": Self.free(3), "devops": Self.free(3), "architect": Self.free(2)])
        #expect(d.delegateTo == "devops")
        let siblings = decide("cfo", ["cfo": Self.full, "cto": Self.free(2), "cso": Self.free(2)], priority: .high)
        #expect(siblings.delegateTo == "cso")
    }

    @Test func agentsWithoutAFreshReportAreNeverFree() {
        // No entry at all, or explicitly unavailable: neither counts as capacity.
        let d = decide("cto", ["cto": Self.full, "architect": .unavailable, "cfo": .unavailable])
        #expect(d.action == .spawnWorker)
        let nobodyReported = decide("cto", [:], priority: .critical)
        #expect(nobodyReported.action == .spawnWorker)
        #expect(nobodyReported.reason.contains("no fresh capacity report"))
    }

    @Test func callerWithoutReportDoesNotDoItThemselves() {
        let d = decide("cto", ["architect": Self.free(4)])
        #expect(d.action == .delegateToReport)
        #expect(d.delegateTo == "architect")
    }

    @Test func priorityThresholdAppliesToCandidates() {
        // architect is 50% busy: fine for normal, too busy for low.
        let availability: [String: AgentAvailability] = ["cto": Self.full, "architect": Self.free(2)]
        #expect(decide("cto", availability, priority: .normal).delegateTo == "architect")
        #expect(decide("cto", availability, priority: .low).action == .spawnWorker)
    }

    @Test func priorityThresholdAppliesToSelf() {
        let availability: [String: AgentAvailability] = ["cto": Self.free(1)]  // 75% busy
        #expect(decide("cto", availability, priority: .normal).action != .doItYourself)
        #expect(decide("cto", availability, priority: .high).action == .doItYourself)
    }

    @Test func agentsInTheChainAreNeverRecommended() {
        let availability: [String: AgentAvailability] = [
            "cto": Self.full, "devops": Self.free(4), "architect": Self.free(1), "cfo": Self.free(4),
        ]
        let d = decide("cto", availability, priority: .high, chain: ["devops"])
        #expect(d.delegateTo == "architect")
        let d2 = decide("cto", availability, priority: .high, chain: ["devops", "architect"])
        #expect(d2.action == .delegateToSibling)
        #expect(d2.delegateTo == "cfo")
    }

    @Test func callerIsNeverRecommendedEvenIfListedAsAnotherRole() {
        // A caller with room is considered only as "yourself", never as a report or sibling.
        let d = decide("cfo", ["cfo": Self.free(4)], considerSelf: false)
        #expect(d.delegateTo != "cfo")
        #expect(d.action == .spawnWorker)
    }

    @Test func chainAtMaxHopsSpawnsAWorker() {
        let everyoneFree = Dictionary(uniqueKeysWithValues: chart.ids.map { ($0, Self.free(4)) })
        let d = decide("cto", everyoneFree, chain: ["ceo", "cfo", "cso"], maxHops: 3)
        #expect(d.action == .spawnWorker)
        #expect(d.reason.contains("ceo -> cfo -> cso"))
        #expect(d.reason.contains("max_hops is 3"))
        // One short of the limit still decides normally.
        #expect(decide("cto", everyoneFree, chain: ["ceo", "cfo"], maxHops: 3).action == .doItYourself)
        // Beyond the limit too.
        #expect(decide("cto", everyoneFree, chain: ["a", "b", "c", "d"], maxHops: 3).action == .spawnWorker)
    }

    @Test func considerSelfFalseSkipsSelf() {
        let availability: [String: AgentAvailability] = ["cto": Self.free(4), "architect": Self.free(2), "cfo": Self.free(4)]
        let d = decide("cto", availability, considerSelf: false)
        #expect(d.action == .delegateToReport)
        #expect(d.delegateTo == "architect")
        #expect(!d.reason.contains("you have"))
    }

    @Test func rootHasNoSiblingsToFallBackOn() {
        let d = decide("ceo", ["ceo": Self.full, "cto": Self.full, "cfo": Self.full, "cso": Self.full], priority: .high)
        #expect(d.action == .spawnWorker)
    }

    @Test func leafFallsBackToSiblings() {
        let d = decide("devops", ["devops": Self.full, "fullstack": Self.free(1), "architect": Self.free(2)], priority: .high)
        #expect(d.action == .delegateToSibling)
        #expect(d.delegateTo == "architect")
    }

    @Test func grandReportsAreNotDirectReports() {
        // ceo's direct reports are full; architect (a report of cto) has room but is not ceo's report or sibling.
        let d = decide(
            "ceo", ["ceo": Self.full, "cto": Self.full, "cfo": Self.full, "cso": Self.full, "architect": Self.free(4)])
        #expect(d.action == .spawnWorker)
    }
}
