import Delegation
import Testing

/// The error `OrgChart(agents)` throws, or nil when the chart is accepted.
func chartError(_ agents: [Agent]) -> OrgChartError? {
    do {
        _ = try OrgChart(agents)
        return nil
    } catch {
        return error
    }
}

@Suite("OrgChart validation")
struct OrgChartValidationTests {
    @Test func emptyChartIsRejected() {
        #expect(chartError([]) == .empty)
        #expect(OrgChartError.empty.description.contains("no agents"))
    }

    @Test func duplicateIDIsRejected() {
        let error = chartError([Agent(id: "a"), Agent(id: "b", reportsTo: "a"), Agent(id: "a")])
        #expect(error == .duplicateID("a"))
        #expect(error?.description.contains("\"a\"") == true)
    }

    @Test func unknownManagerIsRejected() {
        let error = chartError([Agent(id: "a"), Agent(id: "b", reportsTo: "ghost")])
        #expect(error == .unknownManager(agent: "b", manager: "ghost"))
        #expect(error?.description.contains("ghost") == true)
    }

    @Test func selfCycleIsRejectedWithItsPath() throws {
        let error = try #require(chartError([Agent(id: "root"), Agent(id: "loop", reportsTo: "loop")]))
        #expect(error == .cycle(["loop", "loop"]))
        #expect(error.description.contains("loop -> loop"))
    }

    @Test func twoCycleIsRejected() {
        let error = chartError([Agent(id: "a", reportsTo: "b"), Agent(id: "b", reportsTo: "a")])
        #expect(error == .cycle(["a", "b", "a"]))
    }

    @Test func threeCycleIsRejectedWithTheCyclePathInTheMessage() throws {
        let agents = [
            Agent(id: "x", reportsTo: "z"),
            Agent(id: "y", reportsTo: "x"),
            Agent(id: "z", reportsTo: "y"),
        ]
        let error = try #require(chartError(agents))
        #expect(error == .cycle(["x", "z", "y", "x"]))
        #expect(error.description.contains("x -> z -> y -> x"))
    }

    @Test func cycleReachedFromATailReportsOnlyTheCycle() throws {
        // tail -> a -> b -> a: the path in the error is the cycle, not the tail leading to it.
        let agents = [
            Agent(id: "tail", reportsTo: "a"),
            Agent(id: "a", reportsTo: "b"),
            Agent(id: "b", reportsTo: "a"),
        ]
        let error = try #require(chartError(agents))
        #expect(error == .cycle(["a", "b", "a"]))
        #expect(!error.description.contains("tail"))
    }

    @Test(arguments: ["", "CEO", "has space", "slash/id", "émile", "a:b", String(repeating: "a", count: 65)])
    func invalidIDCharactersAreRejected(id: String) {
        #expect(chartError([Agent(id: id)]) == .invalidID(id))
    }

    @Test(arguments: ["a", "a-b_c.d", "0", String(repeating: "z", count: 64)])
    func validIDsAreAccepted(id: String) {
        #expect(chartError([Agent(id: id)]) == nil)
    }

    @Test(arguments: [0, -1, 1001])
    func maxConcurrentOutOfRangeIsRejected(value: Int) {
        let error = chartError([Agent(id: "a", maxConcurrent: value)])
        #expect(error == .invalidMaxConcurrent(agent: "a", value: value))
        #expect(error?.description.contains("between 1 and 1000") == true)
    }

    @Test(arguments: [1, 1000])
    func maxConcurrentBoundsAreAccepted(value: Int) throws {
        let chart = try OrgChart([Agent(id: "a", maxConcurrent: value)])
        #expect(chart.agent("a")?.maxConcurrent == value)
    }

    @Test func forestWithSeveralRootsIsAccepted() throws {
        let chart = try OrgChart([Agent(id: "r1"), Agent(id: "r2"), Agent(id: "c", reportsTo: "r2")])
        #expect(chart.ids == ["c", "r1", "r2"])
    }
}

@Suite("OrgChart queries")
struct OrgChartQueryTests {
    let chart: OrgChart

    init() throws {
        chart = try OrgChart([
            Agent(id: "ceo"),
            Agent(id: "cto", reportsTo: "ceo"),
            Agent(id: "cfo", reportsTo: "ceo"),
            Agent(id: "marketing", reportsTo: "ceo"),
            Agent(id: "devops", reportsTo: "cto"),
            Agent(id: "architect", reportsTo: "cto"),
        ])
    }

    @Test func reportsAreDirectOnlyAndSortedByID() {
        #expect(chart.reports(of: "ceo") == ["cfo", "cto", "marketing"])
        #expect(chart.reports(of: "cto") == ["architect", "devops"])
        #expect(chart.reports(of: "devops") == [])
        #expect(chart.reports(of: "nobody") == [])
    }

    @Test func siblingsShareAManagerAndExcludeSelf() {
        #expect(chart.siblings(of: "cto") == ["cfo", "marketing"])
        #expect(chart.siblings(of: "devops") == ["architect"])
        #expect(chart.siblings(of: "nobody") == [])
    }

    @Test func rootsHaveNoSiblings() throws {
        #expect(chart.siblings(of: "ceo") == [])
        let forest = try OrgChart([Agent(id: "r1"), Agent(id: "r2")])
        #expect(forest.siblings(of: "r1") == [])
    }

    @Test func idsAreSortedAndLookupWorks() {
        #expect(chart.ids == ["architect", "ceo", "cfo", "cto", "devops", "marketing"])
        #expect(chart.agent("cto")?.reportsTo == "ceo")
        #expect(chart.agent("ceo")?.reportsTo == nil)
        #expect(chart.agent("missing") == nil)
    }
}
