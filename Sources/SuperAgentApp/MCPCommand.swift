import Delegation
import JSON
import Log
import MCP
import SQLiteStores

/// `super-agent mcp`: the MCP tool server a role agent mounts over stdio.
public enum MCPCommand {
    public static let spec = CommandSpec(
        name: "mcp",
        summary: """
            Serve the super-agent tools over MCP on stdin/stdout (newline-delimited JSON-RPC), in the handshake era
            (initialize, 2024-11-05 to 2025-11-25) or the 2026-07-28 per-request era. Logs go to stderr as JSON lines.

            environment: ROLE_ID (the calling agent), SUPER_AGENT_CONFIG, SUPER_AGENT_STATE_DIR, SUPER_AGENT_LOG_LEVEL,
            SUPER_AGENT_MAX_LINE_BYTES, SUPER_AGENT_STDIN_SPIN_US, SUPER_AGENT_CAPACITY_TTL_S, SUPER_AGENT_CAPACITY_STORE,
            SUPER_AGENT_MAX_HOPS;
            for super_agent_run: SUPER_AGENT_POOL_URL and SUPER_AGENT_POOL_TOKEN (a remote pool; unset = the embedded pool),
            SUPER_AGENT_WORKSPACE_ROOTS (colon-separated; default the current directory), SUPER_AGENT_SLOTS, SUPER_AGENT_FALLBACK;
            SUPER_AGENT_REDIS_URL shares capacity reports across hosts (the default store is then redis).
            Precedence: flags > environment > config file > built-in defaults.
            """,
        options: [
            ("config", "FILE", "JSON config file (org chart, capacity, limits)"),
            ("role", "ID", "the calling agent's id in the org chart (ROLE_ID)"),
            ("state-dir", "DIR", "where the shared capacity database lives (default $XDG_STATE_HOME/super-agent)"),
            ("log-level", "LEVEL", "debug, info, notice, warning, error, critical, alert or emergency"),
            ("max-line-bytes", "N", "longest accepted message line (default 8388608)"),
            ("stdin-spin-us", "N", "microseconds to keep polling stdin after each read before sleeping (0-10000, default 50; 0 = off)"),
            ("capacity-ttl", "SECONDS", "how long a capacity report stays fresh (default 600)"),
            ("capacity-store", "KIND", "sqlite (shared by the host, default), redis (default with SUPER_AGENT_REDIS_URL) or memory"),
            ("max-hops", "N", "delegation hops before the answer is spawn_worker (default 3)"),
            ("pool-url", "URL", "a remote pool (SUPER_AGENT_POOL_URL); unset runs tasks in the embedded pool"),
            ("fallback", "MODE", "none (default) or inline: run in the embedded pool when the remote one is unreachable"),
            ("workspace-root", "DIR", "a directory caller-mode runs may use (repeatable; default the current directory)"),
            ("slots", "N", "embedded pool slots (default 3)"),
        ],
        switches: [CommandSpec.printConfig] + CommandSpec.helpAndVersion)

    static let instructions = """
        super-agent decides who should do a task and runs one-shot work on a shared pool. Call report_capacity when \
        your workload changes. Before starting specialist work, call should_i_delegate: do it yourself, hand it to a \
        report or a sibling, or spawn a pool worker with super_agent_run (cheap models for cheap work). Pass \
        delegation_chain when the task was handed to you, so it never loops. POOL_BUSY: back off (or pass wait_s); \
        POOL_UNREACHABLE: escalate.
        """

    /// Builds the server from a resolved configuration (also used by tests and the benchmark).
    public static func makeServer(
        config: Config, sink: MessageSink, logger: Logger, environment: Environment = .current()
    ) throws(ConfigError) -> MCPServer {
        let chart = try config.orgChart()
        let store = try PoolWiring.capacityStore(config: config, logger: logger)
        let tracker = CapacityTracker(
            chart: chart, store: store, reportTTL: config.capacityTTLSeconds, maxHops: config.maxHops)
        let tools = DelegationTools(tracker: tracker, roleID: config.roleID)
        let pool = try PoolWiring.make(config: config, environment: environment, logger: logger)
        let runTools = RunTools(
            dispatcher: pool.dispatcher, inlineFallback: pool.inlineFallback, remote: pool.remote, adapters: pool.adapters,
            callerAgent: config.roleID, progressInterval: .milliseconds(Int64(config.pool.progressIntervalSeconds * 1000)))
        let handles = runTools.handles
        let info = ServerInfo(
            name: "super-agent", title: "super-agent", version: SuperAgentVersion.current, instructions: instructions)
        let costTools = CostTools(ledger: pool.ledger, settings: config.costs)
        let server = MCPServer(
            info: info, tools: ToolRegistry(tools.all + runTools.all + costTools.all), sink: sink, logger: logger)
        // Background runs (wait: false) are not calls; stop them with the server.
        server.onShutdown { await handles.cancelAll() }
        return server
    }

    static func run(_ arguments: [String], environment: Environment) throws(ConfigError) -> Never {
        let parsed = try spec.parseAnsweringHelp(arguments)
        let config = try Config.load(flags: parsed.values, environment: environment)
        if parsed.switches.contains("print-config") { exitPrinting(config.json.text) }
        let logger = Logger(level: config.logLevel)
        let server = try makeServer(config: config, sink: FileDescriptorSink(fd: 1), logger: logger, environment: environment)
        logger.info(
            "mcp server starting",
            [
                "version": .string(SuperAgentVersion.current), "role": JSON(config.roleID), "config": .string(config.source),
                "capacityStore": .string(config.capacityStore.rawValue),
            ])
        StdioTransport.run(server, maxLineBytes: config.maxLineBytes, spin: .microseconds(config.stdinSpinMicroseconds), logger: logger)
    }
}
