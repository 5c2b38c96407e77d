import Costs
import JSON
import MCP
import SuperAgentApp
import Testing

@Suite("cost_report tool") struct CostToolsTests {
    let dec1: Double = 1_796_083_200
    func tools(_ ledger: any Ledger) -> CostTools {
        let now = dec1 + 86_400
        return CostTools(ledger: ledger, settings: CostSettings(), now: { now })
    }
    @Test func reportMatchesSchemaAndFigures() async throws {
        let ledger = InMemoryLedger([
            LedgerEntry(runID: "a", agent: "cto", task: "summarize-logs", adapter: "gemini", model: "gemini-2.5-flash-lite", tier: .cheap, rule: "task:summarize*", status: "OK", usage: TokenUsage(input: 100_000, output: 10_000), costUSD: 0.014, costSource: .computed, time: dec1 + 10),
            LedgerEntry(runID: "b", agent: "cfo", task: "x", adapter: "claude", model: "sonnet", tier: .standard, rule: "default", status: "FAILED", time: dec1 - 10 * 86_400),
        ])
        let tool = try #require(tools(ledger).all.first { $0.name == "cost_report" })
        #expect(tool.annotations.readOnly && tool.annotations.idempotent && !tool.annotations.destructive)
        #expect(SchemaValidator.validate(["since": "7d", "by": "model"], against: tool.inputSchema) == nil)
        #expect(SchemaValidator.validate(["by": "colour"], against: tool.inputSchema) != nil)
        let r = try await tool.handler(["since": "7d", "by": "model"], .detached())
        #expect(!r.isError)
        let s = try #require(r.structuredContent)
        #expect(SchemaValidator.validate(s, against: try #require(tool.outputSchema)) == nil)
        #expect(s["totals"]?["runs"] == 1)
        #expect(s["rows"]?.arrayValue?.first?["key"] == "gemini/gemini-2.5-flash-lite")
        #expect(s["totals"]?["saving_usd"] == .double(0.211))
        let all = try await tool.handler(["since": "all"], .detached())
        #expect(all.structuredContent?["totals"]?["runs"] == 2)
        #expect(all.structuredContent?["by"] == "agent")
        let bad = try await tool.handler(["since": "soon"], .detached())
        #expect(bad.isError)
        ledger.failNextCalls(with: LedgerError("disk gone"))
        let failed = try await tool.handler([:], .detached())
        #expect(failed.isError)
        print(String(describing: failed.content))
        print(r.content.first!.text)
    }
}
