import Costs
import Delegation
import Runs
import JSON
import Log

/// Which CapacityStore holds the agents' load reports.
public enum CapacityStoreKind: String, Sendable, CaseIterable {
    /// This process only (tests, a single agent).
    case memory
    /// A SQLite file in the state dir, shared by every process on the host (the default).
    case sqlite
    /// Redis at `SUPER_AGENT_REDIS_URL`, shared across hosts (the default when that URL is set).
    case redis
}

/// Everything `super-agent` is configured with, resolved in the order
/// flags > environment > config file > built-in defaults.
public struct Config: Sendable {
    public var agents: [Agent] = []
    public var maxHops = 3
    public var capacityTTLSeconds = 600.0
    public var capacityStore = CapacityStoreKind.sqlite
    public var maxLineBytes = 8 << 20
    /// Microseconds `super-agent mcp` keeps polling stdin after each read before it sleeps in read(2)
    /// (`SUPER_AGENT_STDIN_SPIN_US`, `mcp.stdin_spin_us`): a lockstep client's next request then
    /// skips a vCPU wake-up. At most this much CPU per read; 0 turns it off.
    public var stdinSpinMicroseconds = 50
    public var logLevel = LogLevel.info
    public var stateDir: String
    /// The calling agent (`ROLE_ID`); checked against the chart when a tool is called.
    public var roleID: String?
    /// Where the configuration came from, for messages.
    public var source = "built-in default"
    /// Slots, workspaces, adapters, and the remote pool's address.
    public var pool = PoolConfig()
    /// This pod's name in results and metrics (`SUPER_AGENT_POD_NAME`, else `HOSTNAME`).
    public var podName = "local"
    /// Prices, routing and budgets (the `prices`, `routing` and `budgets` sections; see `CostSettings`).
    public var costs = CostSettings()
    /// `SUPER_AGENT_REDIS_URL`: the shared slot registry and capacity store; nil keeps both local.
    public var redisURL: String?
    /// How long a slot lease or a pod registration lives without renewal (`SUPER_AGENT_LEASE_TTL_S`).
    public var leaseTTLSeconds = 15.0
    /// The URL peers reach this pod at (`SUPER_AGENT_ADVERTISE_URL`), for forwarded runs.
    public var advertiseURL: String?
    /// Whether the capacity store was chosen explicitly (else Redis is used when a URL is set).
    var capacityStoreExplicit = false

    /// The validated chart; `load` guarantees this succeeds.
    public func orgChart() throws(ConfigError) -> OrgChart {
        do { return try OrgChart(agents) } catch { throw .orgChart(source: source, error) }
    }

    init(stateDir: String) { self.stateDir = stateDir }

    /// Resolves the configuration; `flags` are `--name value` options already split by the caller.
    public static func load(flags: [String: String], environment env: Environment) throws(ConfigError) -> Config {
        var config = Config(stateDir: defaultStateDir(env))
        try config.apply(file: DefaultConfig.json, source: "built-in default")
        if let path = flags["config"] ?? env["SUPER_AGENT_CONFIG"] {
            let bytes: [UInt8]
            switch readFile(path) {
            case .success(let b): bytes = b
            case .failure(let e): throw e
            }
            try config.apply(file: String(decoding: bytes, as: UTF8.self), source: path)
        }
        for (name, setting) in Setting.environment.sorted(by: { $0.key < $1.key }) {
            if let value = env[name] { try config.apply(setting, value, shownAs: name, source: "environment") }
        }
        for setting in Setting.allCases {
            if let value = flags[setting.rawValue] {
                try config.apply(setting, value, shownAs: "--\(setting.rawValue)", source: "command line")
            }
        }
        if let pod = env["SUPER_AGENT_POD_NAME"] ?? env["HOSTNAME"] { config.podName = pod }
        if config.redisURL != nil && !config.capacityStoreExplicit { config.capacityStore = .redis }
        if config.capacityStore == .redis && config.redisURL == nil {
            throw .invalidValue(key: "capacity store", source: "configuration", expected: "sqlite or memory unless SUPER_AGENT_REDIS_URL is set")
        }
        if let token = env["SUPER_AGENT_POOL_TOKEN"] {
            config.pool.token = token
        } else if let file = config.pool.tokenFile {
            switch readFile(file, limit: 4096) {
            case .success(let bytes):
                let token = String(decoding: bytes, as: UTF8.self).trimmingWhitespace
                guard !token.isEmpty else { throw .invalidValue(key: "the pool token file \(file)", source: "token file", expected: "non-empty") }
                config.pool.token = token
            case .failure(let e): throw e
            }
        }
        if config.pool.limits.defaultTimeoutSeconds > config.pool.limits.maxTimeoutSeconds {
            config.pool.limits.defaultTimeoutSeconds = config.pool.limits.maxTimeoutSeconds
        }
        _ = try config.orgChart()
        return config
    }

    /// A setting that a flag (`--` + raw value) or an environment variable can override.
    public enum Setting: String, Sendable, CaseIterable {
        case role
        case stateDir = "state-dir"
        case logLevel = "log-level"
        case maxLineBytes = "max-line-bytes"
        case stdinSpin = "stdin-spin-us"
        case capacityTTL = "capacity-ttl"
        case capacityStore = "capacity-store"
        case maxHops = "max-hops"
        case slots
        case listen
        case workspaceRoot = "workspace-root"
        case poolURL = "pool-url"
        case tokenFile = "token-file"
        case fallback
        case drainGrace = "drain-grace"
        case confinement
        case redisURL = "redis-url"
        case advertiseURL = "advertise-url"
        case leaseTTL = "lease-ttl"

        /// Environment variables and the setting each one overrides.
        public static let environment: [String: Setting] = [
            "ROLE_ID": .role,
            "SUPER_AGENT_STATE_DIR": .stateDir,
            "SUPER_AGENT_LOG_LEVEL": .logLevel,
            "SUPER_AGENT_MAX_LINE_BYTES": .maxLineBytes,
            "SUPER_AGENT_STDIN_SPIN_US": .stdinSpin,
            "SUPER_AGENT_CAPACITY_TTL_S": .capacityTTL,
            "SUPER_AGENT_CAPACITY_STORE": .capacityStore,
            "SUPER_AGENT_MAX_HOPS": .maxHops,
            "SUPER_AGENT_SLOTS": .slots,
            "SUPER_AGENT_LISTEN": .listen,
            "SUPER_AGENT_WORKSPACE_ROOTS": .workspaceRoot,
            "SUPER_AGENT_POOL_URL": .poolURL,
            "SUPER_AGENT_POOL_TOKEN_FILE": .tokenFile,
            "SUPER_AGENT_FALLBACK": .fallback,
            "SUPER_AGENT_DRAIN_GRACE_S": .drainGrace,
            "SUPER_AGENT_CONFINEMENT": .confinement,
            "SUPER_AGENT_REDIS_URL": .redisURL,
            "SUPER_AGENT_ADVERTISE_URL": .advertiseURL,
            "SUPER_AGENT_LEASE_TTL_S": .leaseTTL,
        ]
    }

    mutating func apply(_ setting: Setting, _ value: String, shownAs shown: String, source: String) throws(ConfigError) {
        switch setting {
        case .role: roleID = value
        case .stateDir:
            guard value.hasPrefix("/") else { throw .invalidValue(key: shown, source: source, expected: "an absolute path") }
            stateDir = value
        case .logLevel:
            guard let l = LogLevel(rawValue: value) else {
                throw .invalidValue(key: shown, source: source, expected: "one of \(LogLevel.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            logLevel = l
        case .maxLineBytes:
            guard let n = Int(value), n >= 1024 else { throw .invalidValue(key: shown, source: source, expected: "an integer of at least 1024") }
            maxLineBytes = n
        case .stdinSpin:
            guard let n = Int(value), (0...10_000).contains(n) else { throw .invalidValue(key: shown, source: source, expected: "an integer from 0 to 10000 (microseconds)") }
            stdinSpinMicroseconds = n
        case .capacityTTL:
            guard let n = Double(value), n > 0, n.isFinite else { throw .invalidValue(key: shown, source: source, expected: "a positive number of seconds") }
            capacityTTLSeconds = n
        case .capacityStore:
            guard let k = CapacityStoreKind(rawValue: value) else {
                throw .invalidValue(key: shown, source: source, expected: "one of \(CapacityStoreKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            capacityStore = k
            capacityStoreExplicit = true
        case .maxHops:
            guard let n = Int(value), (1...32).contains(n) else { throw .invalidValue(key: shown, source: source, expected: "an integer from 1 to 32") }
            maxHops = n
        case .slots:
            guard let n = Int(value), (1...256).contains(n) else { throw .invalidValue(key: shown, source: source, expected: "an integer from 1 to 256") }
            pool.slots = n
        case .listen:
            guard let colon = value.lastIndex(of: ":"), let port = Int(value[value.index(after: colon)...]), (0...65535).contains(port) else {
                throw .invalidValue(key: shown, source: source, expected: "HOST:PORT, e.g. 0.0.0.0:8080")
            }
            pool.listen = value
        case .workspaceRoot:
            // Colon-separated in the environment; the flag may be repeated (joined the same way).
            let roots = value.split(separator: ":").map(String.init)
            guard !roots.isEmpty, roots.allSatisfy({ $0.hasPrefix("/") }) else {
                throw .invalidValue(key: shown, source: source, expected: "absolute directories (colon-separated)")
            }
            pool.workspaceRoots = roots
        case .poolURL:
            guard value.hasPrefix("http://") || value.hasPrefix("https://") else {
                throw .invalidValue(key: shown, source: source, expected: "an http:// or https:// URL")
            }
            pool.url = value
        case .tokenFile: pool.tokenFile = value
        case .fallback:
            guard let f = PoolFallback(rawValue: value) else { throw .invalidValue(key: shown, source: source, expected: "none or inline") }
            pool.fallback = f
        case .drainGrace:
            guard let n = Double(value), n >= 0, n <= 86_400 else { throw .invalidValue(key: shown, source: source, expected: "a number of seconds") }
            pool.drainGraceSeconds = n
        case .confinement:
            guard ["auto", "landlock", "none"].contains(value) else { throw .invalidValue(key: shown, source: source, expected: "auto, landlock or none") }
            pool.confinement = value
        case .redisURL:
            guard value.hasPrefix("redis://") else { throw .invalidValue(key: shown, source: source, expected: "a redis://[:password@]host[:port][/db] URL") }
            redisURL = value
        case .advertiseURL:
            guard value.hasPrefix("http://") || value.hasPrefix("https://") else {
                throw .invalidValue(key: shown, source: source, expected: "the http:// URL peers reach this pod at")
            }
            advertiseURL = value
        case .leaseTTL:
            guard let n = Double(value), n >= 1, n <= 3600 else { throw .invalidValue(key: shown, source: source, expected: "a number of seconds from 1 to 3600") }
            leaseTTLSeconds = n
        }
    }

    /// Applies a JSON config file; keys it does not mention keep their current values.
    mutating func apply(file text: String, source: String) throws(ConfigError) {
        let root: JSON
        do { root = try JSON.parse(text) } catch { throw .malformed(source: source, error) }
        guard case .object(let o) = root else { throw .invalidValue(key: "the top level", source: source, expected: "an object") }
        let known: Set = ["org", "capacity", "mcp", "log_level", "state_dir", "pool", "adapters", "prices", "routing", "budgets"]
        if let unknown = o.keys.first(where: { !known.contains($0) }) {
            throw .invalidValue(key: unknown, source: source, expected: "one of the known sections (\(known.sorted().joined(separator: ", ")))")
        }
        self.source = source
        try pool.apply(pool: o["pool"], adapters: o["adapters"], source: source)
        try costs.apply(prices: o["prices"], routing: o["routing"], budgets: o["budgets"], adapters: pool.adapters, source: source)
        if let org = o["org"] {
            guard case .object(let orgObject) = org else { throw .invalidValue(key: "org", source: source, expected: "an object") }
            if let hops = orgObject["max_hops"] {
                guard let n = hops.intValue, (1...32).contains(n) else { throw .invalidValue(key: "org.max_hops", source: source, expected: "an integer from 1 to 32") }
                maxHops = Int(n)
            }
            if let list = orgObject["agents"] {
                guard case .array(let items) = list else { throw .invalidValue(key: "org.agents", source: source, expected: "an array of agents") }
                agents = try items.enumerated().map { (i, item) throws(ConfigError) in try Self.agent(item, index: i, source: source) }
            }
        }
        if let capacity = o["capacity"] {
            guard case .object = capacity else { throw .invalidValue(key: "capacity", source: source, expected: "an object") }
            if let ttl = capacity["ttl_s"] {
                guard let n = ttl.numberValue, n > 0 else { throw .invalidValue(key: "capacity.ttl_s", source: source, expected: "a positive number of seconds") }
                capacityTTLSeconds = n
            }
            if let store = capacity["store"] {
                guard let k = store.stringValue.flatMap(CapacityStoreKind.init(rawValue:)) else {
                    throw .invalidValue(key: "capacity.store", source: source, expected: "\"memory\", \"sqlite\" or \"redis\" (redis needs SUPER_AGENT_REDIS_URL)")
                }
                capacityStore = k
                capacityStoreExplicit = true
            }
        }
        if let mcp = o["mcp"], mcp.objectValue == nil {
            throw .invalidValue(key: "mcp", source: source, expected: "an object")
        }
        if let limit = o["mcp"]?["max_line_bytes"] {
            guard let n = limit.intValue, n >= 1024 else { throw .invalidValue(key: "mcp.max_line_bytes", source: source, expected: "an integer of at least 1024") }
            maxLineBytes = Int(n)
        }
        if let spin = o["mcp"]?["stdin_spin_us"] {
            guard let n = spin.intValue, (0...10_000).contains(n) else { throw .invalidValue(key: "mcp.stdin_spin_us", source: source, expected: "an integer from 0 to 10000 (microseconds)") }
            stdinSpinMicroseconds = Int(n)
        }
        if let level = o["log_level"] {
            guard let l = level.stringValue.flatMap(LogLevel.init(rawValue:)) else {
                throw .invalidValue(key: "log_level", source: source, expected: "one of \(LogLevel.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            logLevel = l
        }
        if let dir = o["state_dir"] {
            guard let s = dir.stringValue, s.hasPrefix("/") else { throw .invalidValue(key: "state_dir", source: source, expected: "an absolute path") }
            stateDir = s
        }
    }

    static func agent(_ item: JSON, index: Int, source: String) throws(ConfigError) -> Agent {
        let key = "org.agents[\(index)]"
        guard case .object(let o) = item else { throw .invalidValue(key: key, source: source, expected: "an object with an id") }
        guard let id = o["id"]?.stringValue else { throw .invalidValue(key: "\(key).id", source: source, expected: "a string") }
        var manager: String? = nil
        if let m = o["reports_to"], !m.isNull {
            guard let s = m.stringValue else { throw .invalidValue(key: "\(key).reports_to", source: source, expected: "a string or null") }
            manager = s
        }
        var maxConcurrent = 3
        if let m = o["max_concurrent"] {
            guard let n = m.intValue else { throw .invalidValue(key: "\(key).max_concurrent", source: source, expected: "an integer") }
            maxConcurrent = Int(n)
        }
        return Agent(id: id, reportsTo: manager, maxConcurrent: maxConcurrent)
    }

    /// `$XDG_STATE_HOME/super-agent`, else `~/.local/state/super-agent`.
    static func defaultStateDir(_ env: Environment) -> String {
        if let xdg = env["XDG_STATE_HOME"], xdg.hasPrefix("/") { return xdg + "/super-agent" }
        if let home = env["HOME"], home.hasPrefix("/") { return home + "/.local/state/super-agent" }
        return "/tmp/super-agent-state"
    }

    /// The effective configuration as a config file.
    public var json: JSON {
        var agentList: [JSON] = []
        for a in agents {
            var o: JSONObject = ["id": .string(a.id)]
            if let m = a.reportsTo { o["reports_to"] = .string(m) }
            o["max_concurrent"] = JSON(a.maxConcurrent)
            agentList.append(.object(o))
        }
        return [
            "org": ["max_hops": JSON(maxHops), "agents": .array(agentList)],
            "capacity": ["ttl_s": .double(capacityTTLSeconds), "store": .string(capacityStore.rawValue)],
            "mcp": ["max_line_bytes": JSON(maxLineBytes), "stdin_spin_us": JSON(stdinSpinMicroseconds)],
            "log_level": .string(logLevel.rawValue),
            "state_dir": .string(stateDir),
            "pool": pool.json,
            "adapters": pool.adaptersJSON,
            "prices": costs.pricesJSON,
            "routing": costs.routingJSON,
            "budgets": costs.budgetsJSON,
        ]
    }
}
