import Costs
import Delegation
import JSON
import Log
import PoolHTTP
import RedisStores
import Runs
import Sandbox
import SQLiteStores

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Builds the pool a process uses from its configuration: the embedded `RunService`, or a client
/// for the remote pool at `SUPER_AGENT_POOL_URL` (with the embedded pool as the optional fallback).
enum PoolWiring {
    struct Dispatch: Sendable {
        let dispatcher: any RunDispatcher
        /// For a remote pool: the same dispatch with the embedded pool behind it when the remote is unreachable.
        let inlineFallback: (any RunDispatcher)?
        let remote: Bool
        let adapters: [String]
        /// The ledger every run is recorded in (also what `cost_report` reads).
        let ledger: any Ledger
    }

    /// The embedded pool: a local registry, the sandboxed launcher, and the configured workspace roots.
    static func makeService(
        config: Config, environment: Environment, logger: Logger, metrics: PoolMetrics = PoolMetrics(),
        registry: (any RunRegistry)? = nil, forwarder: (any RunForwarder)? = nil
    ) -> RunService {
        let roots = config.pool.workspaceRoots.isEmpty ? [currentDirectory()] : config.pool.workspaceRoots
        let scratch = config.pool.scratchDir ?? config.stateDir + "/workspaces"
        let workspaces = FileWorkspaceProvider(roots: roots, scratchDirectory: scratch)
        for problem in workspaces.rejectedRoots { logger.warning("workspace root unusable", ["problem": .string("\(problem)")]) }
        if let problem = workspaces.scratchError { logger.warning("scratch directory unusable", ["problem": .string("\(problem)")]) }
        let confinement: Confinement =
            switch config.pool.confinement {
            case "landlock": .landlock
            case "none": .none
            default: .auto
            }
        return RunService(
            pod: config.podName,
            registry: registry ?? LocalRunRegistry(slots: config.pool.slots, pod: config.podName, retryAfterMs: config.pool.retryAfterMs),
            adapters: config.pool.adapters, workspaces: workspaces, launcher: PosixProcessLauncher(confinement: confinement),
            resolver: PathProgramResolver(), environment: environment.values, limits: config.pool.limits, metrics: metrics,
            logger: logger, forwarder: forwarder)
    }

    static func make(config: Config, environment: Environment, logger: Logger) throws(ConfigError) -> Dispatch {
        let names = config.pool.adapters.map(\.name)
        let pool: any RunDispatcher
        var embedded: (any RunDispatcher)? = nil
        var routing = config.costs.routing
        if let url = config.pool.url {
            let client = PoolHTTPClient(baseURL: url, token: config.pool.token, logger: logger)
            let local = makeService(config: config, environment: environment, logger: logger)
            embedded = local
            pool = config.pool.fallback == .inline ? FallbackDispatcher(primary: client, fallback: local) : client
        } else {
            pool = makeService(config: config, environment: environment, logger: logger)
            // Route only to adapters whose CLI is installed here, so a missing gemini never fails cheap work.
            let path = environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
            let installed = config.pool.adapters.filter { a in a.argv.first.map { PathProgramResolver().resolve($0, path: path) != nil } ?? false }
            routing = routing.restricted(toAdapters: Set(installed.map(\.name)))
        }
        let runLedger = try ledger(config: config)
        let account = { (inner: any RunDispatcher) -> any RunDispatcher in
            AccountingDispatcher(
                inner: inner, ledger: runLedger, prices: config.costs.prices, routing: routing,
                budgets: BudgetPolicy(defaultLimits: config.costs.budgetDefault, agents: config.costs.budgetAgents, routing: routing),
                adapters: config.pool.adapters, logger: logger, now: CostTools.wallClock)
        }
        // The per-call `fallback: "inline"` path: the remote pool, then the embedded one, accounted once.
        let inline = embedded.map { local in account(FallbackDispatcher(primary: pool, fallback: local)) }
        return Dispatch(dispatcher: account(pool), inlineFallback: inline, remote: config.pool.url != nil, adapters: names,
            ledger: runLedger)
    }

    /// The run ledger: a SQLite file in the state dir, shared by every process on the host; a Redis
    /// stream, shared across hosts, when `SUPER_AGENT_REDIS_URL` is set.
    static func ledger(config: Config) throws(ConfigError) -> any Ledger {
        guard config.redisURL != nil else { return SQLiteLedger(path: SQLiteLedger.path(stateDir: config.stateDir)) }
        return RedisLedger(url: try redisURL(config), keyPrefix: RedisDefaults.keyPrefix)
    }

    /// Where the delegation tools keep load reports: memory, the host's SQLite file, or Redis.
    static func capacityStore(config: Config, logger: Logger) throws(ConfigError) -> any CapacityStore {
        switch config.capacityStore {
        case .memory: return InMemoryCapacityStore()
        case .sqlite: return SQLiteCapacityStore(path: config.stateDir + "/capacity.sqlite3")
        case .redis:
            return RedisCapacityStore(url: try redisURL(config), keyPrefix: RedisDefaults.keyPrefix)
        }
    }

    static func redisURL(_ config: Config) throws(ConfigError) -> RedisURL {
        guard let text = config.redisURL else {
            throw .invalidValue(key: "SUPER_AGENT_REDIS_URL", source: "environment", expected: "set for the redis store")
        }
        do { return try RedisURL(parsing: text) } catch {
            throw .invalidValue(key: "SUPER_AGENT_REDIS_URL", source: "environment", expected: "a redis:// URL (\(error))")
        }
    }

    /// The pod's slot registry: shared through Redis when `SUPER_AGENT_REDIS_URL` is set, else local.
    static func podRegistry(config: Config, port: Int, logger: Logger) throws(ConfigError) -> any RunRegistry {
        guard config.redisURL != nil else {
            return LocalRunRegistry(slots: config.pool.slots, pod: config.podName, retryAfterMs: config.pool.retryAfterMs)
        }
        let advertise = config.advertiseURL ?? "http://\(config.podName):\(port)"
        return RedisRunRegistry(
            url: try redisURL(config), pod: config.podName, slots: config.pool.slots, advertiseURL: advertise,
            leaseTTL: .milliseconds(Int64(config.leaseTTLSeconds * 1000)), retryAfterMs: config.pool.retryAfterMs, logger: logger)
    }

    static func currentDirectory() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return "/" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
