import Costs
import Dispatch
import JSON
import SQLiteStores
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `super-agent costs`: what the pool's runs cost, from the ledger in the state directory (or in
/// Redis when `SUPER_AGENT_REDIS_URL` is set).
public enum CostsCommand {
    public static let spec = CommandSpec(
        name: "costs",
        summary: """
            Report runs, tokens, spend, runs of unknown cost, and the saving against sending the same runs to the
            frontier model of the same adapter, from the run ledger (<state dir>/ledger.sqlite3, or a Redis stream when
            SUPER_AGENT_REDIS_URL is set). Prices and routing come from the config (prices, routing). Environment:
            SUPER_AGENT_CONFIG, SUPER_AGENT_STATE_DIR, SUPER_AGENT_REDIS_URL.
            """,
        options: [
            ("since", "WHEN", "7d (default), 12h, 30m, a date YYYY-MM-DD (UTC midnight), or all"),
            ("by", "WHAT", "agent (default), model, task or day"),
            ("format", "FORMAT", "table (default), json or csv"),
            ("config", "FILE", "JSON config file (prices, routing)"),
            ("state-dir", "DIR", "the state directory holding ledger.sqlite3"),
        ],
        switches: CommandSpec.helpAndVersion)

    public enum Format: String, Sendable, CaseIterable {
        case table
        case json
        case csv
    }

    /// The report as printed for `format`.
    public static func render(_ report: CostReport, format: Format) -> String {
        switch format {
        case .table: report.table
        case .json: report.json.text
        case .csv: report.csv
        }
    }

    /// The report over `ledger` for `--since`/`--by` values; errors are usage errors naming the option.
    public static func report(
        ledger: any Ledger, since: String, by: String, settings: CostSettings, now: Double
    ) async throws(ConfigError) -> Result<CostReport, LedgerError> {
        guard let start = SinceParser.parse(since, now: now) else {
            throw .usage("super-agent costs: --since must be \(SinceParser.expected), not \"\(since)\"")
        }
        guard let grouping = ReportGrouping(rawValue: by) else {
            throw .usage("super-agent costs: --by must be one of \(ReportGrouping.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        do {
            let entries = try await ledger.entries(since: start)
            return .success(
                CostReport.make(entries: entries, by: grouping, prices: settings.prices, routing: settings.routing, since: start))
        } catch {
            return .failure(error)
        }
    }

    static func run(_ arguments: [String], environment: Environment) throws(ConfigError) -> Never {
        let parsed = try spec.parseAnsweringHelp(arguments)
        let config = try Config.load(flags: parsed.values, environment: environment)
        guard let format = Format(rawValue: parsed.values["format"] ?? "table") else {
            throw .usage("super-agent costs: --format must be one of \(Format.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let path = SQLiteLedger.path(stateDir: config.stateDir)
        // A missing ledger file means no runs yet; a read-only command does not create it.
        let ledger: any Ledger =
            if config.redisURL != nil { try PoolWiring.ledger(config: config) }
            else if access(path, F_OK) == 0 { SQLiteLedger(path: path) } else { InMemoryLedger() }
        let since = parsed.values["since"] ?? "7d"
        let by = parsed.values["by"] ?? "agent"
        let box = Mutex<Result<Result<CostReport, LedgerError>, ConfigError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        let settings = config.costs
        Task {
            let outcome: Result<Result<CostReport, LedgerError>, ConfigError>
            do throws(ConfigError) {
                outcome = .success(try await report(ledger: ledger, since: since, by: by, settings: settings, now: CostTools.wallClock()))
            } catch {
                outcome = .failure(error)
            }
            box.withLock { $0 = outcome }
            done.signal()
        }
        done.wait()
        switch box.withLock({ $0 })! {
        case .failure(let usage): throw usage
        case .success(.failure(let ledgerError)): exitPrinting("super-agent costs: \(ledgerError)", to: 2, code: 1)
        case .success(.success(let report)): exitPrinting(render(report, format: format))
        }
    }
}
