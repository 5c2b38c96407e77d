import Dispatch
import JSON
import Log
import PoolHTTP
import RedisStores
import Runs
import Signals

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `super-agent pool`: one pool pod, serving runs over HTTP/1.1.
public enum PoolCommand {
    public static let spec = CommandSpec(
        name: "pool",
        summary: """
            Serve a pool pod over HTTP: POST /v1/runs (NDJSON stream: accepted, progress, result), DELETE /v1/runs/{id},
            GET /v1/status, /healthz, /readyz, /metrics. Every request but the probes and metrics needs
            "Authorization: Bearer <token>" (SUPER_AGENT_POOL_TOKEN or --token-file); the pool will not start without one.
            SIGTERM: /readyz turns 503, new runs get POOL_DRAINING, running ones get --drain-grace seconds, then are cancelled.

            environment: SUPER_AGENT_POOL_TOKEN, SUPER_AGENT_POOL_TOKEN_FILE, SUPER_AGENT_LISTEN, SUPER_AGENT_SLOTS,
            SUPER_AGENT_WORKSPACE_ROOTS, SUPER_AGENT_DRAIN_GRACE_S, SUPER_AGENT_CONFINEMENT, SUPER_AGENT_POD_NAME (else HOSTNAME),
            SUPER_AGENT_CONFIG, SUPER_AGENT_STATE_DIR, SUPER_AGENT_LOG_LEVEL; for a cluster: SUPER_AGENT_REDIS_URL (the shared
            slot registry), SUPER_AGENT_ADVERTISE_URL (how peers reach this pod), SUPER_AGENT_LEASE_TTL_S (default 15).
            The adapters' API keys are passed to runs
            only as each adapter's pass_env allows.
            """,
        options: [
            ("config", "FILE", "JSON config file (pool, adapters, org chart)"),
            ("listen", "HOST:PORT", "address to serve on (default 0.0.0.0:8080; port 0 picks a free one)"),
            ("slots", "N", "runs at once on this pod (default 3)"),
            ("workspace-root", "DIR", "a directory caller-mode runs may use (repeatable; default the current directory)"),
            ("token-file", "FILE", "file holding the bearer token (SUPER_AGENT_POOL_TOKEN wins)"),
            ("drain-grace", "SECONDS", "how long running runs may finish after SIGTERM (default 30)"),
            ("confinement", "MODE", "auto (Landlock when the kernel has it), landlock (required) or none"),
            ("redis-url", "URL", "share slots with the other pods through Redis (redis://host:port/db)"),
            ("advertise-url", "URL", "the URL peers forward runs to (default http://<pod name>:<port>)"),
            ("lease-ttl", "SECONDS", "how long a slot lease or pod registration outlives its last renewal (default 15)"),
            ("state-dir", "DIR", "where isolated workspaces are made (default $XDG_STATE_HOME/super-agent)"),
            ("log-level", "LEVEL", "debug, info, notice, warning, error, critical, alert or emergency"),
        ],
        switches: [CommandSpec.printConfig] + CommandSpec.helpAndVersion)

    static func run(_ arguments: [String], environment: Environment) throws(ConfigError) -> Never {
        let parsed = try spec.parseAnsweringHelp(arguments)
        let config = try Config.load(flags: parsed.values, environment: environment)
        if parsed.switches.contains("print-config") { exitPrinting(config.json.text) }
        guard let token = config.pool.token else {
            throw .invalidValue(
                key: "SUPER_AGENT_POOL_TOKEN", source: "environment",
                expected: "set (or --token-file given): the pool refuses to serve without a bearer token")
        }
        let colon = config.pool.listen.lastIndex(of: ":")!
        let host = String(config.pool.listen[..<colon])
        let port = Int(config.pool.listen[config.pool.listen.index(after: colon)...])!
        let logger = Logger(level: config.logLevel)
        let metrics = PoolMetrics()
        // A pod in a cluster shares its slots through Redis and forwards runs to the peer holding their slot.
        let registry = try PoolWiring.podRegistry(config: config, port: port, logger: logger)
        let service = PoolWiring.makeService(
            config: config, environment: environment, logger: logger, metrics: metrics, registry: registry,
            forwarder: config.redisURL == nil ? nil : PeerForwarder(token: token, logger: logger))
        let server = PoolHTTPServer(
            host: host, port: port, token: token, dispatcher: service, metrics: metrics, logger: logger,
            maxBodyBytes: config.pool.maxBodyBytes, progressInterval: .milliseconds(Int64(config.pool.progressIntervalSeconds * 1000)),
            podName: config.podName)
        do {
            try server.start()
        } catch {
            exitPrinting("super-agent pool: cannot listen on \(config.pool.listen): \(error)", to: 2, code: 69)
        }
        logger.info(
            "pool listening",
            [
                "version": .string(SuperAgentVersion.current), "host": .string(host), "port": JSON(server.port),
                "slots": JSON(config.pool.slots), "pod": .string(config.podName), "adapters": JSON(service.adapterNames),
                "config": .string(config.source),
            ])
        let grace = config.pool.drainGraceSeconds
        TerminationSignals.watch { signal in
            logger.info("draining", ["reason": .string(signal), "inFlight": JSON(service.activeCount), "grace_s": .double(grace)])
            service.beginDrain()
            server.beginDrain()
            let deadline = ContinuousClock.now + .milliseconds(Int64(grace * 1000))
            while service.activeCount > 0 && ContinuousClock.now < deadline { usleep(20_000) }
            if service.activeCount > 0 {
                logger.warning("drain grace over; cancelling runs", ["inFlight": JSON(service.activeCount)])
                service.cancelAll()
                let hard = ContinuousClock.now + .seconds(10)
                while service.activeCount > 0 && ContinuousClock.now < hard { usleep(20_000) }
            }
            // Let the last result lines reach their clients before the sockets close.
            usleep(200_000)
            server.stop()
            if let shared = registry as? RedisRunRegistry {
                // Leave the cluster now rather than when the registration expires.
                let left = DispatchSemaphore(value: 0)
                Task {
                    await shared.shutdown()
                    left.signal()
                }
                _ = left.wait(timeout: .now() + .seconds(2))
            }
            logger.info("pool stopped")
            exit(0)
        }
        while true { pause() }
    }
}
