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
        /// The in-process pool, built lazily for remote setups only when a fallback may need it.
        let embedded: (any RunDispatcher)?
        let remote: Bool
        let adapters: [String]
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

    static func make(config: Config, environment: Environment, logger: Logger) -> Dispatch {
        let names = config.pool.adapters.map(\.name)
        guard let url = config.pool.url else {
            return Dispatch(dispatcher: makeService(config: config, environment: environment, logger: logger), embedded: nil, remote: false, adapters: names)
        }
        let client = PoolHTTPClient(baseURL: url, token: config.pool.token, logger: logger)
        let embedded = makeService(config: config, environment: environment, logger: logger)
        let dispatcher: any RunDispatcher =
            config.pool.fallback == .inline ? FallbackDispatcher(primary: client, fallback: embedded) : client
        return Dispatch(dispatcher: dispatcher, embedded: embedded, remote: true, adapters: names)
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
