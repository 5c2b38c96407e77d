import Costs
import JSON
import MCP

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The read-only cost tool: `cost_report`, the same figures as `super-agent costs`.
public struct CostTools: Sendable {
    let ledger: any Ledger
    let prices: PriceTable
    let routing: RoutingPolicy
    let now: @Sendable () -> Double

    public init(ledger: any Ledger, prices: PriceTable, routing: RoutingPolicy, now: @escaping @Sendable () -> Double = CostTools.wallClock) {
        self.ledger = ledger
        self.prices = prices
        self.routing = routing
        self.now = now
    }

    public init(ledger: any Ledger, settings: CostSettings, now: @escaping @Sendable () -> Double = CostTools.wallClock) {
        self.init(ledger: ledger, prices: settings.prices, routing: settings.routing, now: now)
    }

    public var all: [Tool] { [costReport] }

    /// Unix seconds now (CLOCK_REALTIME), for the ledger's timestamps and report windows.
    @Sendable public static func wallClock() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    var costReport: Tool {
        Tool(
            name: "cost_report",
            title: "Cost report",
            description: """
                What the pool's runs cost: runs, tokens, spend (the adapter's own figure, else tokens × the price table), \
                runs of unknown cost, and the saving against sending the same runs to the frontier model of the same adapter. \
                Grouped by agent, model, task or UTC day, over the window `since`.
                """,
            inputSchema: [
                "type": "object",
                "properties": [
                    "since": [
                        "type": "string", "default": "7d", "maxLength": 32,
                        "description": "Start of the window: Nd, Nh or Nm ago (7d, 12h, 30m), a UTC date YYYY-MM-DD, or all.",
                    ],
                    "by": [
                        "type": "string", "enum": JSON(ReportGrouping.allCases.map(\.rawValue)), "default": "agent",
                        "description": "How rows are grouped.",
                    ],
                ],
                "additionalProperties": false,
            ],
            outputSchema: CostReport.jsonSchema,
            annotations: ToolAnnotations(readOnly: true, destructive: false, idempotent: true, openWorld: false)
        ) { arguments, _ in
            let sinceText = arguments["since"]?.stringValue ?? "7d"
            guard let since = SinceParser.parse(sinceText, now: now()) else {
                return .error("since: must be \(SinceParser.expected), not \"\(sinceText)\"")
            }
            let by = arguments["by"]?.stringValue.flatMap(ReportGrouping.init(rawValue:)) ?? .agent
            let entries: [LedgerEntry]
            do { entries = try await ledger.entries(since: since) } catch { return .error("\(error)") }
            return .structured(CostReport.make(entries: entries, by: by, prices: prices, routing: routing, since: since).json)
        }
    }
}
