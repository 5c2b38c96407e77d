import Costs
import JSON
import Testing

@Suite("Cost reports")
struct CostReportTests {
    func report(_ by: ReportGrouping, since: Double? = nil) -> CostReport {
        CostReport.make(entries: fixture, by: by, prices: .defaults, routing: .defaults, since: since)
    }

    func row(_ r: CostReport, _ key: String) -> CostReport.Row? { r.rows.first { $0.key == key } }

    @Test func totalsAddUpEveryRunWithUnknownCostsCountedApart() {
        let t = report(.agent).totals
        #expect(t.key == "TOTAL")
        #expect(t.runs == 5)
        #expect(t.inputTokens == 104_000)  // 100k + 2k + 1k + 0 + 1k
        #expect(t.outputTokens == 12_100)  // 10k + 1k + 1k + 0 + 100
        #expect(t.cacheReadTokens == 10_000)
        #expect(t.cacheWriteTokens == 0)
        #expect(close(t.spendUSD, 0.074))  // 0.014 + 0.03 + 0.03
        #expect(t.unknownCostRuns == 2)  // r4 (no tokens), r5 (no price)
        #expect(close(t.savingUSD, 0.221))  // (0.225 − 0.014) + (0.04 − 0.03) + 0
        #expect(t.comparedRuns == 3)
    }

    @Test func byAgentRowsAreSortedBySpend() {
        let r = report(.agent)
        #expect(r.rows.map(\.key) == ["cto", "fullstack", "cfo"])
        let cto = row(r, "cto")!
        #expect((cto.runs, cto.inputTokens, cto.outputTokens, cto.unknownCostRuns, cto.comparedRuns) == (2, 102_000, 11_000, 0, 2))
        #expect(close(cto.spendUSD, 0.044))
        #expect(close(cto.savingUSD, 0.221))
        let fullstack = row(r, "fullstack")!
        #expect((fullstack.runs, fullstack.unknownCostRuns, fullstack.comparedRuns) == (2, 1, 1))
        #expect(close(fullstack.spendUSD, 0.03))
        #expect(fullstack.savingUSD == 0)  // opus compared with opus
        let cfo = row(r, "cfo")!
        #expect((cfo.runs, cfo.spendUSD, cfo.unknownCostRuns, cfo.comparedRuns) == (1, 0, 1, 0))
    }

    @Test func byModelKeysNameTheAdapter() {
        let r = report(.model)
        #expect(r.rows.map(\.key) == ["claude/opus", "claude/sonnet", "gemini/gemini-2.5-flash-lite", "codex/gpt-9"])
        let lite = row(r, "gemini/gemini-2.5-flash-lite")!
        #expect((lite.runs, lite.unknownCostRuns, lite.comparedRuns) == (2, 1, 1))
        #expect(close(lite.savingUSD, 0.211))
        #expect(close(row(r, "claude/sonnet")!.savingUSD, 0.01))
    }

    @Test func byTaskGroupsRunsOfTheSameLabel() {
        let r = report(.task)
        #expect(r.rows.map(\.key) == ["design-api", "summarize-logs", "log-triage"])
        let design = row(r, "design-api")!
        #expect(design.runs == 2)
        #expect(close(design.spendUSD, 0.06))
        #expect(close(design.savingUSD, 0.01))
        #expect(row(r, "log-triage")!.unknownCostRuns == 1)
    }

    @Test func byDayUsesUTCDaysOldestFirst() {
        let r = report(.day)
        #expect(r.rows.map(\.key) == ["2026-12-01", "2026-12-02"])
        let first = r.rows[0], second = r.rows[1]
        #expect((first.runs, second.runs) == (2, 3))
        #expect(close(first.spendUSD, 0.044))
        #expect(close(second.spendUSD, 0.03))
        #expect(second.unknownCostRuns == 2)
        #expect(close(first.savingUSD, 0.221))
    }

    @Test func runsWithUnknownTokensCountNoSaving() {
        let noTokens = entry("x", adapter: "claude", model: "sonnet", usage: TokenUsage(), cost: 0.5, source: .reported)
        #expect(CostReport.saving(of: noTokens, prices: .defaults, routing: .defaults) == nil)
        let r = CostReport.make(entries: [noTokens], by: .agent, prices: .defaults, routing: .defaults)
        #expect((r.totals.comparedRuns, r.totals.savingUSD) == (0, 0))
        #expect(r.totals.spendUSD == 0.5)
    }

    @Test func runsThatNeverStartedCountAsRunsOfNoCostNotAsUnknown() {
        let refused = entry("z", status: "BUDGET_EXCEEDED", cost: 0, source: .notRun)
        let r = CostReport.make(entries: [refused], by: .agent, prices: .defaults, routing: .defaults)
        #expect((r.totals.runs, r.totals.unknownCostRuns, r.totals.comparedRuns, r.totals.spendUSD) == (1, 0, 0, 0))
    }

    @Test func aCheapRunSavesTheDifferenceToTheFrontierModelOfItsAdapter() {
        // haiku: 1M in + 1M out = $1 + $5 = $6; on opus: $5 + $25 = $30; saving $24.
        let e = entry("h", adapter: "claude", model: "claude-haiku-4-5", usage: TokenUsage(input: 1_000_000, output: 1_000_000), cost: 6)
        #expect(close(CostReport.saving(of: e, prices: .defaults, routing: .defaults), 24))
        // The frontier model under another name (alias vs id) saves nothing.
        let opus = entry("o", adapter: "claude", model: "claude-opus-4-5", usage: TokenUsage(input: 10), cost: 1)
        #expect(CostReport.saving(of: opus, prices: .defaults, routing: .defaults) == 0)
        // An adapter without a frontier model is not compared.
        let cmd = entry("c", adapter: "command", model: nil, usage: TokenUsage(input: 10), cost: 0)
        #expect(CostReport.saving(of: cmd, prices: .defaults, routing: .defaults) == nil)
    }

    @Test func tableIsAlignedWithATotalsRow() {
        let since = dec1 - 4 * 86_400
        let expected = """
            Costs by agent, runs since 2026-11-27 00:00 UTC

            AGENT      RUNS  INPUT  OUTPUT  CACHED   SPEND  UNKNOWN  SAVED VS FRONTIER
            cto           2   102k   11.0k   10.0k  $0.044        -              $0.22
            fullstack     2  1.00k   1.00k       0  $0.030        1              $0.00
            cfo           1  1.00k     100       0   $0.00        1                  -
            --------------------------------------------------------------------------
            TOTAL         5   104k   12.1k   10.0k  $0.074        2              $0.22

            2 run(s) of unknown cost are not in SPEND (no figure from the adapter, and no tokens or no price).
            """
        #expect(report(.agent, since: since).table == expected)
    }

    @Test func tableOfAnEmptyLedgerSaysSo() {
        let r = CostReport.make(entries: [], by: .day, prices: .defaults, routing: .defaults, since: 0)
        let lines = r.table.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines[0] == "Costs by day, all recorded runs")
        #expect(lines.contains("(no runs recorded)"))
        #expect(lines.last == "TOTAL     0      0       0       0  $0.00        -                  -")
    }

    @Test func csvHasExactFiguresAndATotalsLine() {
        let expected = """
            agent,runs,input_tokens,output_tokens,cache_read_tokens,cache_write_tokens,spend_usd,unknown_cost_runs,saving_usd,compared_runs
            cto,2,102000,11000,10000,0,0.044000,0,0.221000,2
            fullstack,2,1000,1000,0,0,0.030000,1,0.000000,1
            cfo,1,1000,100,0,0,0.000000,1,0.000000,0
            TOTAL,5,104000,12100,10000,0,0.074000,2,0.221000,3
            """
        #expect(report(.agent).csv == expected)
    }

    @Test func csvQuotesKeysWithCommas() {
        let r = CostReport.make(entries: [entry("q", task: "a,\"b\"", cost: 1)], by: .task, prices: .defaults, routing: .defaults)
        #expect(r.csv.split(separator: "\n")[1].hasPrefix("\"a,\"\"b\"\"\",1,"))
    }

    @Test func jsonCarriesRowsTotalsAndTheWindow() throws {
        let json = report(.day, since: dec1).json
        #expect(json["by"] == "day")
        #expect(json["since"] == .double(dec1))
        #expect(json["since_utc"] == "2026-12-01 00:00 UTC")
        #expect(json["rows"]?.arrayValue?.count == 2)
        let totals = try #require(json["totals"])
        #expect(totals["runs"] == 5)
        #expect(totals["spend_usd"] == .double(0.074))
        #expect(totals["saving_usd"] == .double(0.221))
        #expect(totals["unknown_cost_runs"] == 2)
        #expect(totals["total_tokens"] == 126_100)
        // Round-trips through the serializer.
        #expect(try JSON.parse(json.text) == json)
    }

    @Test(arguments: [
        (0.0, "$0.00"), (1234.5678, "$1,234.57"), (12.3, "$12.30"), (0.996, "$1.00"), (0.5, "$0.50"), (0.0421, "$0.042"),
        (0.00123, "$0.0012"), (0.00001, "<$0.0001"), (-0.25, "-$0.25"), (1_000_000, "$1,000,000.00"),
    ])
    func moneyHasSensibleDecimals(_ usd: Double, _ text: String) {
        #expect(Money.format(usd) == text)
    }

    @Test(arguments: [
        (0, "0"), (999, "999"), (1000, "1.00k"), (45_600, "45.6k"), (999_499, "999k"), (999_949, "1.00M"), (999_999, "1.00M"),
        (1_234_567, "1.23M"), (12_000_000_000, "12.0B"),
    ])
    func tokenCountsAreShort(_ n: Int, _ text: String) {
        #expect(TokenCount.format(n) == text)
    }
}

@Suite("Report windows")
struct WindowTests {
    let now = dec2 + 12 * 3600  // 2026-12-02 12:00 UTC

    @Test func sinceAcceptsDaysHoursMinutesDatesAndAll() {
        #expect(SinceParser.parse("7d", now: now) == now - 7 * 86_400)
        #expect(SinceParser.parse("12h", now: now) == now - 12 * 3600)
        #expect(SinceParser.parse("30m", now: now) == now - 1800)
        #expect(SinceParser.parse("2026-12-01", now: now) == dec1)
        #expect(SinceParser.parse("all", now: now) == 0)
        for bad in ["", "7", "7w", "d", "-1d", "2026-13-01", "2026-02-30", "2026-1-01", "yesterday"] {
            #expect(SinceParser.parse(bad, now: now) == nil, "\(bad) should be refused")
        }
    }

    @Test func utcCalendarMatchesKnownDates() {
        #expect(UTCCalendar.parseISODay("1970-01-01") == 0)
        #expect(UTCCalendar.parseISODay("2000-02-29") == 951_782_400)
        #expect(UTCCalendar.parseISODay("2026-12-01") == dec1)
        #expect(UTCCalendar.isoDay(dec2 - 1) == "2026-12-01")
        #expect(UTCCalendar.startOfDay(now) == dec2)
        #expect(UTCCalendar.startOfMonth(now) == dec1)
        #expect(UTCCalendar.startOfMonth(UTCCalendar.parseISODay("2024-03-15")!) == UTCCalendar.parseISODay("2024-03-01"))
        #expect(UTCCalendar.isoMinute(now + 61) == "2026-12-02 12:01 UTC")
    }
}
