// swift-tools-version:6.0
// super-agent: a shared pool of runners for fleets of AI role agents, served over MCP.
import PackageDescription

let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "super-agent",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "super-agent", targets: ["super-agent"]),
        .library(name: "MCP", targets: ["MCP"]),
    ],
    targets: [
        // C libraries from Debian, through pkg-config; never an absolute path.
        .systemLibrary(name: "CJansson", pkgConfig: "jansson", providers: [.apt(["libjansson-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        // libmicrohttpd and libcurl are opened on first use (dlopen; see their shim.h), never linked:
        // they pull in GnuTLS, OpenSSL, Kerberos and LDAP, which would otherwise load at every
        // `super-agent mcp` start-up. So no pkgConfig here (its --libs would link them); their headers
        // are in the default include path, and `make deps` checks them with pkg-config.
        .systemLibrary(name: "CMicroHTTPD", providers: [.apt(["libmicrohttpd-dev"])]),
        .systemLibrary(name: "CCurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CHiredis", pkgConfig: "hiredis", providers: [.apt(["libhiredis-dev"])]),
        // Syscalls glibc has no wrapper for (openat2, Landlock) and the fork/exec of a run's child.
        .target(name: "CSystem"),

        // JSON: the value type over jansson. Knows nothing else.
        .target(name: "JSON", dependencies: ["CJansson"], swiftSettings: strict),
        // Signals: SIGTERM/SIGINT delivered to Swift without a lost-signal window.
        .target(name: "Signals", dependencies: [], swiftSettings: strict),
        // Log: JSON-lines structured log to stderr.
        .target(name: "Log", dependencies: ["JSON"], swiftSettings: strict),
        // MCP: JSON-RPC framing, both protocol eras, tool registry, progress, cancellation.
        .target(name: "MCP", dependencies: ["JSON", "Log", "Signals"], swiftSettings: strict),
        // Domain: org chart, capacity tracking and the delegation policy. Pure Swift.
        .target(name: "Delegation", dependencies: [], swiftSettings: strict),
        // Domain: runs, the RunRegistry, adapters and the run service. Pure Swift over protocols.
        .target(name: "Runs", dependencies: ["JSON", "Log", "Costs"], swiftSettings: strict),
        // Edge: the path sanitizer, workspaces and the process launcher (spawn, confine, capture).
        .target(name: "Sandbox", dependencies: ["Runs", "CSystem"], swiftSettings: strict),
        // Edge: the pool's HTTP server (libmicrohttpd) and client (libcurl).
        .target(name: "PoolHTTP", dependencies: ["Runs", "JSON", "Log", "CMicroHTTPD", "CCurl"], swiftSettings: strict),
        // Domain: prices, routing, budgets, the run ledger and cost reports. Pure Swift.
        .target(name: "Costs", dependencies: ["JSON"], swiftSettings: strict),
        // Edge: SQLite-backed stores shared by every process on a host.
        .target(name: "SQLiteStores", dependencies: ["CSQLite", "Delegation", "Costs"], swiftSettings: strict),
        // Edge: the Redis-backed run registry, capacity store and run ledger shared across hosts (hiredis).
        .target(name: "RedisStores", dependencies: ["CHiredis", "Runs", "Delegation", "JSON", "Log", "Costs"], swiftSettings: strict),
        // Wiring: config loading, the MCP tools over the domain, subcommands.
        .target(
            name: "SuperAgentApp",
            dependencies: ["JSON", "Log", "MCP", "Delegation", "SQLiteStores", "RedisStores", "Runs", "Sandbox", "PoolHTTP", "Signals", "Costs"],
            swiftSettings: strict),
        .executableTarget(name: "super-agent", dependencies: ["SuperAgentApp"], swiftSettings: strict),
        // Benchmark: Redis-backed RunRegistry acquire+release rate and over-admission check (bench/registry_bench.py).
        .executableTarget(name: "registry-bench", dependencies: ["RedisStores", "Runs"], path: "bench/registry-bench", swiftSettings: strict),

        // Helpers the Swift test targets share (a temporary directory, `eventually`); in no product.
        .target(name: "TestSupport", path: "Tests/TestSupport", swiftSettings: strict),

        .testTarget(name: "JSONTests", dependencies: ["JSON"], swiftSettings: strict),
        .testTarget(name: "MCPTests", dependencies: ["MCP", "JSON", "Log", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "DelegationTests", dependencies: ["Delegation"], swiftSettings: strict),
        .testTarget(name: "RunsTests", dependencies: ["Runs", "JSON", "Log", "Costs", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "SandboxTests", dependencies: ["Sandbox", "Runs"], swiftSettings: strict),
        .testTarget(name: "PoolHTTPTests", dependencies: ["PoolHTTP", "Runs", "JSON", "Log", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "SQLiteStoresTests", dependencies: ["SQLiteStores", "Delegation", "Costs", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "RedisStoresTests", dependencies: ["RedisStores", "Runs", "Delegation", "Costs"], swiftSettings: strict),
        .testTarget(name: "CostsTests", dependencies: ["Costs", "JSON"], swiftSettings: strict),
        .testTarget(
            name: "SuperAgentAppTests",
            dependencies: ["SuperAgentApp", "MCP", "JSON", "Delegation", "Costs", "TestSupport"],
            swiftSettings: strict),
    ]
)
