import JSON

/// What a cost report's rows are.
public enum ReportGrouping: String, Sendable, CaseIterable {
    case agent
    case model
    case task
    /// UTC calendar day.
    case day
}

/// Runs, tokens, spend and savings over a window of the ledger, grouped one way.
///
/// The saving of a run is what its tokens would have cost on the frontier model of the same adapter
/// (the routing table's `frontier` model for that adapter) minus what it did cost. A run counts
/// towards savings only when its tokens and its cost are both known and the frontier model has a
/// price; a run on the frontier model itself saves $0.
public struct CostReport: Sendable, Equatable {
    public struct Row: Sendable, Equatable {
        public var key: String
        public var runs = 0
        public var inputTokens = 0
        public var outputTokens = 0
        public var cacheReadTokens = 0
        public var cacheWriteTokens = 0
        /// Known spend: reported plus computed costs.
        public var spendUSD = 0.0
        /// Runs whose cost is unknown (not in `spendUSD`).
        public var unknownCostRuns = 0
        /// Frontier cost minus actual cost, over the runs that could be compared.
        public var savingUSD = 0.0
        /// Runs included in `savingUSD`.
        public var comparedRuns = 0

        public init(key: String) { self.key = key }

        public var totalTokens: Int { inputTokens + outputTokens + cacheReadTokens + cacheWriteTokens }

        mutating func add(_ e: LedgerEntry, saving: Double?) {
            runs += 1
            inputTokens += e.usage.input ?? 0
            outputTokens += e.usage.output ?? 0
            cacheReadTokens += e.usage.cacheRead ?? 0
            cacheWriteTokens += e.usage.cacheWrite ?? 0
            if let c = e.costUSD { spendUSD += c } else { unknownCostRuns += 1 }
            if let saving {
                savingUSD += saving
                comparedRuns += 1
            }
        }

        public var json: JSON {
            [
                "key": .string(key), "runs": JSON(runs), "input_tokens": JSON(inputTokens), "output_tokens": JSON(outputTokens),
                "cache_read_tokens": JSON(cacheReadTokens), "cache_write_tokens": JSON(cacheWriteTokens),
                "total_tokens": JSON(totalTokens), "spend_usd": .double(CostReport.micro(spendUSD)),
                "unknown_cost_runs": JSON(unknownCostRuns), "saving_usd": .double(CostReport.micro(savingUSD)),
                "compared_runs": JSON(comparedRuns),
            ]
        }
    }

    public var by: ReportGrouping
    /// The window's start (Unix seconds), when the caller gave one.
    public var since: Double?
    public var rows: [Row]
    public var totals: Row

    /// Aggregates `entries`: rows by `by` (days oldest first; otherwise most spend first, then by key).
    public static func make(
        entries: [LedgerEntry], by: ReportGrouping, prices: PriceTable, routing: RoutingPolicy, since: Double? = nil
    ) -> CostReport {
        var groups: [String: Row] = [:]
        var totals = Row(key: "TOTAL")
        for e in entries {
            let key = key(of: e, by: by)
            let saving = saving(of: e, prices: prices, routing: routing)
            groups[key, default: Row(key: key)].add(e, saving: saving)
            totals.add(e, saving: saving)
        }
        let rows: [Row] =
            switch by {
            case .day: groups.values.sorted { $0.key < $1.key }
            default: groups.values.sorted { ($0.spendUSD, $1.key) > ($1.spendUSD, $0.key) }
            }
        return CostReport(by: by, since: since, rows: rows, totals: totals)
    }

    static func key(of e: LedgerEntry, by: ReportGrouping) -> String {
        switch by {
        case .agent: e.agent.isEmpty ? LedgerEntry.noAgent : e.agent
        case .model: "\(e.adapter)/\(e.model ?? "(default)")"
        case .task: e.task
        case .day: UTCCalendar.isoDay(e.time)
        }
    }

    /// Frontier cost minus actual cost; nil when the run cannot be compared.
    public static func saving(of e: LedgerEntry, prices: PriceTable, routing: RoutingPolicy) -> Double? {
        guard e.usage.isKnown, let actual = e.costUSD, let frontier = routing.frontierModel(adapter: e.adapter) else { return nil }
        if let model = e.model, model == frontier || (prices.canonicalModel(model) != nil && prices.canonicalModel(model) == prices.canonicalModel(frontier)) {
            return 0
        }
        guard let frontierCost = prices.tokenCost(usage: e.usage, model: frontier) else { return nil }
        return frontierCost - actual
    }

    /// Dollars rounded to the micro-dollar, so JSON shows stable figures.
    static func micro(_ x: Double) -> Double { (x * 1_000_000).rounded() / 1_000_000 }

    // MARK: - Output

    /// `structuredContent` of `cost_report` and `super-agent costs --format json`.
    public var json: JSON {
        var o: JSONObject = ["by": .string(by.rawValue)]
        if let since {
            o["since"] = .double(since)
            o["since_utc"] = .string(UTCCalendar.isoMinute(since))
        } else {
            o["since"] = .null
            o["since_utc"] = .null
        }
        o["currency"] = "USD"
        o["rows"] = .array(rows.map(\.json))
        o["totals"] = totals.json
        return .object(o)
    }

    /// The JSON Schema of `json`, for the MCP tool's outputSchema.
    public static let jsonSchema: JSON = {
        let row: JSON = [
            "type": "object",
            "properties": [
                "key": ["type": "string"], "runs": ["type": "integer"], "input_tokens": ["type": "integer"],
                "output_tokens": ["type": "integer"], "cache_read_tokens": ["type": "integer"],
                "cache_write_tokens": ["type": "integer"], "total_tokens": ["type": "integer"],
                "spend_usd": ["type": "number"], "unknown_cost_runs": ["type": "integer"], "saving_usd": ["type": "number"],
                "compared_runs": ["type": "integer"],
            ],
            "required": [
                "key", "runs", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "total_tokens",
                "spend_usd", "unknown_cost_runs", "saving_usd", "compared_runs",
            ],
            "additionalProperties": false,
        ]
        return [
            "type": "object",
            "properties": [
                "by": ["type": "string", "enum": JSON(ReportGrouping.allCases.map(\.rawValue))],
                "since": ["type": ["number", "null"]], "since_utc": ["type": ["string", "null"]],
                "currency": ["type": "string"], "rows": ["type": "array", "items": row], "totals": row,
            ],
            "required": ["by", "since", "since_utc", "currency", "rows", "totals"],
            "additionalProperties": false,
        ]
    }()

    static let csvHeader = [
        "key", "runs", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "spend_usd",
        "unknown_cost_runs", "saving_usd", "compared_runs",
    ]

    /// A header line (the first column is named after the grouping), one line per row, then the
    /// `TOTAL` line; exact counts, dollars to 6 decimals.
    public var csv: String {
        var lines = [([by.rawValue] + Self.csvHeader.dropFirst()).joined(separator: ",")]
        for r in rows + [totals] {
            let fields = [
                Self.csvField(r.key), String(r.runs), String(r.inputTokens), String(r.outputTokens), String(r.cacheReadTokens),
                String(r.cacheWriteTokens), Fixed.format(r.spendUSD, decimals: 6), String(r.unknownCostRuns),
                Fixed.format(r.savingUSD, decimals: 6), String(r.comparedRuns),
            ]
            lines.append(fields.joined(separator: ","))
        }
        return lines.joined(separator: "\n")
    }

    static func csvField(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return s }
        return "\"" + s.replacingAll("\"", with: "\"\"") + "\""
    }

    /// Aligned columns for a person: text left, numbers right, a rule, then the totals.
    public var table: String {
        var out: [String] = []
        let window = since.map { $0 <= 0 ? "all recorded runs" : "runs since \(UTCCalendar.isoMinute($0))" } ?? "all recorded runs"
        out.append("Costs by \(by.rawValue), \(window)")
        out.append("")
        let header = [by.rawValue.uppercased(), "RUNS", "INPUT", "OUTPUT", "CACHED", "SPEND", "UNKNOWN", "SAVED VS FRONTIER"]
        func cells(_ r: Row) -> [String] {
            [
                r.key, String(r.runs), TokenCount.format(r.inputTokens), TokenCount.format(r.outputTokens),
                TokenCount.format(r.cacheReadTokens + r.cacheWriteTokens), Money.format(r.spendUSD),
                r.unknownCostRuns == 0 ? "-" : String(r.unknownCostRuns), r.comparedRuns == 0 ? "-" : Money.format(r.savingUSD),
            ]
        }
        let body = rows.map(cells)
        let total = cells(totals)
        var widths = header.map(\.count)
        for line in body + [total] { for (i, c) in line.enumerated() { widths[i] = max(widths[i], c.count) } }
        func render(_ line: [String]) -> String {
            var s = ""
            for (i, c) in line.enumerated() {
                let padding = String(repeating: " ", count: widths[i] - c.count)
                if i > 0 { s += "  " }
                s += i == 0 ? c + padding : padding + c
            }
            while s.last == " " { s.removeLast() }
            return s
        }
        out.append(render(header))
        if body.isEmpty {
            out.append("(no runs recorded)")
        } else {
            out += body.map(render)
        }
        out.append(String(repeating: "-", count: widths.reduce(0, +) + 2 * (widths.count - 1)))
        out.append(render(total))
        if totals.unknownCostRuns > 0 {
            out.append("")
            out.append("\(totals.unknownCostRuns) run(s) of unknown cost are not in SPEND (no figure from the adapter, and no tokens or no price).")
        }
        return out.joined(separator: "\n")
    }
}

extension String {
    func replacingAll(_ target: Character, with replacement: String) -> String {
        var out = ""
        for c in self { if c == target { out += replacement } else { out.append(c) } }
        return out
    }
}
