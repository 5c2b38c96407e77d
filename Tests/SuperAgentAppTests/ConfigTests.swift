import Delegation
import JSON
import Log
import SuperAgentApp
import Testing
import TestSupport

/// The ConfigError `Config.load` throws, or nil when it succeeds.
func loadError(flags: [String: String] = [:], env: [String: String] = [:]) -> ConfigError? {
    do {
        _ = try Config.load(flags: flags, environment: Environment(env))
        return nil
    } catch {
        return error
    }
}

@Suite("Config precedence")
struct ConfigPrecedenceTests {
    @Test func defaultsApplyWithNothingSet() throws {
        let config = try Config.load(flags: [:], environment: Environment([:]))
        #expect(config.logLevel == .info)
        #expect(config.maxHops == 3)
        #expect(config.capacityTTLSeconds == 600)
        #expect(config.capacityStore == .sqlite)
        #expect(config.maxLineBytes == 8_388_608)
        #expect(config.stdinSpinMicroseconds == 50)
        #expect(config.roleID == nil)
        #expect(config.source == "built-in default")
        #expect(config.stateDir == "/tmp/super-agent-state")
    }

    @Test func defaultStateDirFollowsXDGThenHome() throws {
        let xdg = try Config.load(flags: [:], environment: Environment(["XDG_STATE_HOME": "/x/state", "HOME": "/home/u"]))
        #expect(xdg.stateDir == "/x/state/super-agent")
        let home = try Config.load(flags: [:], environment: Environment(["HOME": "/home/u"]))
        #expect(home.stateDir == "/home/u/.local/state/super-agent")
    }

    @Test func fileOverridesDefaults() throws {
        let dir = try TempDir(label: "app-test")
        defer { dir.remove() }
        let path = try dir.writeFile(
            "config.json",
            #"{"log_level": "warning", "org": {"max_hops": 5}, "capacity": {"ttl_s": 30, "store": "memory"}, "mcp": {"max_line_bytes": 4096}, "state_dir": "/from/file"}"#
        )
        let config = try Config.load(flags: ["config": path], environment: Environment([:]))
        #expect(config.logLevel == .warning)
        #expect(config.maxHops == 5)
        #expect(config.capacityTTLSeconds == 30)
        #expect(config.capacityStore == .memory)
        #expect(config.maxLineBytes == 4096)
        #expect(config.stateDir == "/from/file")
        #expect(config.source == path)
        // The file did not list agents, so the default chart stays.
        #expect(config.agents.count == 11)
    }

    @Test func environmentOverridesFile() throws {
        let dir = try TempDir(label: "app-test")
        defer { dir.remove() }
        let path = try dir.writeFile(
            "config.json",
            #"{"log_level": "warning", "org": {"max_hops": 5}, "capacity": {"ttl_s": 30, "store": "memory"}, "mcp": {"max_line_bytes": 4096}, "state_dir": "/from/file"}"#
        )
        let env = Environment([
            "SUPER_AGENT_CONFIG": path,
            "SUPER_AGENT_LOG_LEVEL": "error",
            "SUPER_AGENT_MAX_HOPS": "7",
            "SUPER_AGENT_CAPACITY_TTL_S": "45.5",
            "SUPER_AGENT_CAPACITY_STORE": "sqlite",
            "SUPER_AGENT_MAX_LINE_BYTES": "2048",
            "SUPER_AGENT_STATE_DIR": "/from/env",
            "ROLE_ID": "cto",
        ])
        let config = try Config.load(flags: [:], environment: env)
        #expect(config.logLevel == .error)
        #expect(config.maxHops == 7)
        #expect(config.capacityTTLSeconds == 45.5)
        #expect(config.capacityStore == .sqlite)
        #expect(config.maxLineBytes == 2048)
        #expect(config.stateDir == "/from/env")
        #expect(config.roleID == "cto")
    }

    @Test func flagsOverrideEnvironment() throws {
        let dir = try TempDir(label: "app-test")
        defer { dir.remove() }
        let path = try dir.writeFile("config.json", #"{"log_level": "warning", "org": {"max_hops": 5}}"#)
        let env = Environment([
            "SUPER_AGENT_CONFIG": path,
            "SUPER_AGENT_LOG_LEVEL": "error",
            "SUPER_AGENT_MAX_HOPS": "7",
            "SUPER_AGENT_CAPACITY_TTL_S": "45",
            "SUPER_AGENT_CAPACITY_STORE": "sqlite",
            "SUPER_AGENT_MAX_LINE_BYTES": "2048",
            "SUPER_AGENT_STATE_DIR": "/from/env",
            "ROLE_ID": "cto",
        ])
        let flags = [
            "log-level": "critical", "max-hops": "2", "capacity-ttl": "5", "capacity-store": "memory",
            "max-line-bytes": "1024", "state-dir": "/from/flag", "role": "cfo",
        ]
        let config = try Config.load(flags: flags, environment: env)
        #expect(config.logLevel == .critical)
        #expect(config.maxHops == 2)
        #expect(config.capacityTTLSeconds == 5)
        #expect(config.capacityStore == .memory)
        #expect(config.maxLineBytes == 1024)
        #expect(config.stateDir == "/from/flag")
        #expect(config.roleID == "cfo")
    }

    @Test func eachLayerOnlyOverridesWhatItSets() throws {
        let dir = try TempDir(label: "app-test")
        defer { dir.remove() }
        let path = try dir.writeFile("config.json", #"{"log_level": "notice", "org": {"max_hops": 4}}"#)
        let config = try Config.load(
            flags: ["config": path, "max-hops": "9"], environment: Environment(["SUPER_AGENT_LOG_LEVEL": "debug"]))
        #expect(config.maxHops == 9)  // flag
        #expect(config.logLevel == .debug)  // env over file
        #expect(config.capacityTTLSeconds == 600)  // default
    }

    @Test func configFlagBeatsConfigEnvironmentVariable() throws {
        let dir = try TempDir(label: "app-test")
        defer { dir.remove() }
        let fromFlag = try dir.writeFile("flag.json", #"{"log_level": "alert"}"#)
        let fromEnv = try dir.writeFile("env.json", #"{"log_level": "notice"}"#)
        let config = try Config.load(flags: ["config": fromFlag], environment: Environment(["SUPER_AGENT_CONFIG": fromEnv]))
        #expect(config.logLevel == .alert)
        #expect(config.source == fromFlag)
    }

    @Test func emptyEnvironmentValuesAreIgnored() throws {
        let config = try Config.load(flags: [:], environment: Environment(["SUPER_AGENT_LOG_LEVEL": "", "ROLE_ID": ""]))
        #expect(config.logLevel == .info)
        #expect(config.roleID == nil)
    }

    @Test func fileCanReplaceTheOrgChart() throws {
        let dir = try TempDir(label: "app-test")
        defer { dir.remove() }
        let path = try dir.writeFile(
            "config.json",
            #"{"org": {"agents": [{"id": "boss", "max_concurrent": 9}, {"id": "worker", "reports_to": "boss"}, {"id": "other", "reports_to": null}]}}"#
        )
        let config = try Config.load(flags: ["config": path], environment: Environment([:]))
        let chart = try config.orgChart()
        #expect(chart.ids == ["boss", "other", "worker"])
        #expect(chart.agent("boss")?.maxConcurrent == 9)
        #expect(chart.agent("worker")?.maxConcurrent == 3)
        #expect(chart.agent("worker")?.reportsTo == "boss")
        #expect(chart.agent("other")?.reportsTo == nil)
    }

    @Test func printedConfigLoadsBackToTheSameSettings() throws {
        let dir = try TempDir(label: "app-test")
        defer { dir.remove() }
        let original = try Config.load(
            flags: ["log-level": "warning", "max-hops": "4", "capacity-ttl": "12.5", "state-dir": "/s"],
            environment: Environment([:]))
        let path = try dir.writeFile("printed.json", original.json.text)
        let reloaded = try Config.load(flags: ["config": path], environment: Environment([:]))
        #expect(reloaded.logLevel == .warning)
        #expect(reloaded.maxHops == 4)
        #expect(reloaded.capacityTTLSeconds == 12.5)
        #expect(reloaded.stateDir == "/s")
        #expect(reloaded.agents == original.agents)
        #expect(reloaded.json == original.json)
    }
}

@Suite("Built-in default org chart")
struct DefaultChartTests {
    @Test func defaultChartHasTheElevenAgentsWithTheirManagers() throws {
        let config = try Config.load(flags: [:], environment: Environment([:]))
        let chart = try config.orgChart()
        let managers = Dictionary(uniqueKeysWithValues: chart.agents.map { ($0.id, $0.reportsTo) })
        let expected: [String: String?] = [
            "ceo": nil,
            "cto": "ceo", "cfo": "ceo", "cso": "ceo", "marketing": "ceo", "investment": "ceo", "org-agent": "ceo",
            "architect": "cto", "devops": "cto", "fullstack": "cto",
            "zidevops-director": "devops",
        ]
        #expect(chart.agents.count == 11)
        #expect(managers == expected)
    }

    @Test func defaultChartQueries() throws {
        let chart = try Config.load(flags: [:], environment: Environment([:])).orgChart()
        #expect(chart.reports(of: "ceo") == ["cfo", "cso", "cto", "investment", "marketing", "org-agent"])
        #expect(chart.reports(of: "cto") == ["architect", "devops", "fullstack"])
        #expect(chart.reports(of: "devops") == ["zidevops-director"])
        #expect(chart.siblings(of: "devops") == ["architect", "fullstack"])
        #expect(chart.siblings(of: "zidevops-director") == [])
    }
}

@Suite("Config errors")
struct ConfigErrorTests {
    @Test func malformedJSONReportsPosition() throws {
        let dir = try TempDir(label: "app-test")
        defer { dir.remove() }
        let path = try dir.writeFile("bad.json", "{\n  \"log_level\": \"info\",\n  \"org\": {,}\n}")
        let error = try #require(loadError(flags: ["config": path]))
        guard case .malformed(let source, let parseError) = error else {
            Issue.record("expected .malformed, got \(error)")
            return
        }
        #expect(source == path)
        #expect(parseError.line == 3)
        #expect(error.description.contains(path))
        #expect(error.description.contains("line 3"))
        #expect(error.description.contains("not valid JSON"))
    }

    @Test func duplicateKeyInConfigIsMalformed() throws {
        let dir = try TempDir(label: "app-test")
        defer { dir.remove() }
        let path = try dir.writeFile("dup.json", #"{"log_level": "info", "log_level": "debug"}"#)
        let error = try #require(loadError(flags: ["config": path]))
        guard case .malformed = error else {
            Issue.record("expected .malformed, got \(error)")
            return
        }
    }

    @Test func missingFileIsUnreadable() throws {
        let dir = try TempDir(label: "app-test")
        defer { dir.remove() }
        let path = dir.path + "/does-not-exist.json"
        let error = try #require(loadError(env: ["SUPER_AGENT_CONFIG": path]))
        guard case .unreadable(let p, _) = error else {
            Issue.record("expected .unreadable, got \(error)")
            return
        }
        #expect(p == path)
        #expect(error.description.contains(path))
    }

    @Test func cycleInFileIsRejectedWithItsPath() throws {
        let dir = try TempDir(label: "app-test")
        defer { dir.remove() }
        let path = try dir.writeFile(
            "cycle.json",
            #"{"org": {"agents": [{"id": "a", "reports_to": "c"}, {"id": "b", "reports_to": "a"}, {"id": "c", "reports_to": "b"}]}}"#
        )
        let error = try #require(loadError(flags: ["config": path]))
        #expect(error == .orgChart(source: path, .cycle(["a", "c", "b", "a"])))
        #expect(error.description.contains("a -> c -> b -> a"))
        #expect(error.description.contains(path))
    }

    @Test func unknownManagerInFileIsRejected() throws {
        let dir = try TempDir(label: "app-test")
        defer { dir.remove() }
        let path = try dir.writeFile("unknown.json", #"{"org": {"agents": [{"id": "a"}, {"id": "b", "reports_to": "nobody"}]}}"#)
        let error = try #require(loadError(flags: ["config": path]))
        #expect(error == .orgChart(source: path, .unknownManager(agent: "b", manager: "nobody")))
        #expect(error.description.contains("nobody"))
    }

    @Test func duplicateAgentIDInFileIsRejected() throws {
        let dir = try TempDir(label: "app-test")
        defer { dir.remove() }
        let path = try dir.writeFile("dupid.json", #"{"org": {"agents": [{"id": "a"}, {"id": "a", "reports_to": "a"}]}}"#)
        let error = try #require(loadError(flags: ["config": path]))
        #expect(error == .orgChart(source: path, .duplicateID("a")))
    }

    @Test func emptyAgentListIsRejected() throws {
        let dir = try TempDir(label: "app-test")
        defer { dir.remove() }
        let path = try dir.writeFile("empty.json", #"{"org": {"agents": []}}"#)
        #expect(loadError(flags: ["config": path]) == .orgChart(source: path, .empty))
    }

    @Test func badLogLevelIsRejectedFromEveryLayer() throws {
        let flag = try #require(loadError(flags: ["log-level": "verbose"]))
        #expect(flag == .invalidValue(key: "--log-level", source: "command line", expected: "one of debug, info, notice, warning, error, critical, alert, emergency"))
        #expect(flag.description.contains("--log-level"))
        #expect(flag.description.contains("debug, info"))

        let env = try #require(loadError(env: ["SUPER_AGENT_LOG_LEVEL": "loud"]))
        guard case .invalidValue(let key, let source, _) = env else {
            Issue.record("expected .invalidValue, got \(env)")
            return
        }
        #expect(key == "SUPER_AGENT_LOG_LEVEL")
        #expect(source == "environment")

        let dir = try TempDir(label: "app-test")
        defer { dir.remove() }
        let path = try dir.writeFile("level.json", #"{"log_level": "INFO"}"#)
        let file = try #require(loadError(flags: ["config": path]))
        guard case .invalidValue(let fileKey, let fileSource, _) = file else {
            Issue.record("expected .invalidValue, got \(file)")
            return
        }
        #expect(fileKey == "log_level")
        #expect(fileSource == path)
    }

    @Test(arguments: ["1023", "0", "-5", "lots", "1.5e6"])
    func badMaxLineBytesFlagIsRejected(value: String) throws {
        let error = try #require(loadError(flags: ["max-line-bytes": value]))
        #expect(error == .invalidValue(key: "--max-line-bytes", source: "command line", expected: "an integer of at least 1024"))
        #expect(error.description == "--max-line-bytes in command line must be an integer of at least 1024")
    }

    @Test func stdinSpinComesFromFileThenEnvironmentThenFlag() throws {
        let dir = try TempDir(label: "app-test")
        defer { dir.remove() }
        let path = try dir.writeFile("spin.json", #"{"mcp": {"stdin_spin_us": 0}}"#)
        #expect(try Config.load(flags: ["config": path], environment: Environment([:])).stdinSpinMicroseconds == 0)
        let env = Environment(["SUPER_AGENT_CONFIG": path, "SUPER_AGENT_STDIN_SPIN_US": "200"])
        #expect(try Config.load(flags: [:], environment: env).stdinSpinMicroseconds == 200)
        #expect(try Config.load(flags: ["stdin-spin-us": "7"], environment: env).stdinSpinMicroseconds == 7)
        #expect(try Config.load(flags: ["stdin-spin-us": "7"], environment: env).json["mcp"]?["stdin_spin_us"] == 7)
    }

    @Test(arguments: ["-1", "10001", "fast", "1.5"])
    func badStdinSpinIsRejectedFromEveryOrigin(value: String) throws {
        let expected = "an integer from 0 to 10000 (microseconds)"
        #expect(loadError(env: ["SUPER_AGENT_STDIN_SPIN_US": value])
            == .invalidValue(key: "SUPER_AGENT_STDIN_SPIN_US", source: "environment", expected: expected))
        #expect(loadError(flags: ["stdin-spin-us": value])
            == .invalidValue(key: "--stdin-spin-us", source: "command line", expected: expected))
        let dir = try TempDir(label: "app-test")
        defer { dir.remove() }
        let literal = Double(value) != nil ? value : "\"\(value)\""  // numbers as numbers, words as strings
        let path = try dir.writeFile("spin.json", #"{"mcp": {"stdin_spin_us": \#(literal)}}"#)
        #expect(loadError(flags: ["config": path]) == .invalidValue(key: "mcp.stdin_spin_us", source: path, expected: expected))
    }

    @Test func badMaxLineBytesFromEnvironmentAndFileIsRejected() throws {
        #expect(
            loadError(env: ["SUPER_AGENT_MAX_LINE_BYTES": "12"])
                == .invalidValue(key: "SUPER_AGENT_MAX_LINE_BYTES", source: "environment", expected: "an integer of at least 1024"))
        let dir = try TempDir(label: "app-test")
        defer { dir.remove() }
        let path = try dir.writeFile("lines.json", #"{"mcp": {"max_line_bytes": "big"}}"#)
        #expect(
            loadError(flags: ["config": path])
                == .invalidValue(key: "mcp.max_line_bytes", source: path, expected: "an integer of at least 1024"))
    }

    @Test func otherBadValuesNameTheirKey() throws {
        #expect(loadError(flags: ["max-hops": "0"])?.description.contains("--max-hops") == true)
        #expect(loadError(flags: ["max-hops": "33"]) != nil)
        #expect(loadError(flags: ["capacity-ttl": "-1"])?.description.contains("--capacity-ttl") == true)
        #expect(loadError(flags: ["capacity-ttl": "inf"]) != nil)
        #expect(loadError(flags: ["capacity-store": "mongo"])?.description.contains("memory, sqlite, redis") == true)
        // Redis needs its URL.
        #expect(loadError(flags: ["capacity-store": "redis"])?.description.contains("SUPER_AGENT_REDIS_URL") == true)
        #expect(loadError(flags: ["state-dir": "relative/dir"])?.description.contains("absolute path") == true)
    }

    @Test func badAgentEntriesNameTheirIndex() throws {
        let dir = try TempDir(label: "app-test")
        defer { dir.remove() }
        let noID = try dir.writeFile("noid.json", #"{"org": {"agents": [{"id": "a"}, {"reports_to": "a"}]}}"#)
        #expect(loadError(flags: ["config": noID]) == .invalidValue(key: "org.agents[1].id", source: noID, expected: "a string"))
        let badMax = try dir.writeFile("badmax.json", #"{"org": {"agents": [{"id": "a", "max_concurrent": "3"}]}}"#)
        #expect(loadError(flags: ["config": badMax])?.description.contains("org.agents[0].max_concurrent") == true)
        let outOfRange = try dir.writeFile("range.json", #"{"org": {"agents": [{"id": "a", "max_concurrent": 0}]}}"#)
        #expect(loadError(flags: ["config": outOfRange]) == .orgChart(source: outOfRange, .invalidMaxConcurrent(agent: "a", value: 0)))
    }

    @Test func topLevelMustBeAnObject() throws {
        let dir = try TempDir(label: "app-test")
        defer { dir.remove() }
        let path = try dir.writeFile("array.json", "[]")
        #expect(loadError(flags: ["config": path]) == .invalidValue(key: "the top level", source: path, expected: "an object"))
    }
}

@Suite("CommandSpec.parse")
struct CommandSpecTests {
    let spec = MCPCommand.spec

    @Test func separateValueForm() throws {
        let parsed = try spec.parse(["--role", "cto", "--log-level", "debug"])
        #expect(parsed.values == ["role": "cto", "log-level": "debug"])
        #expect(parsed.switches.isEmpty)
    }

    @Test func equalsForm() throws {
        let parsed = try spec.parse(["--role=cto", "--config=/etc/sa.json"])
        #expect(parsed.values == ["role": "cto", "config": "/etc/sa.json"])
    }

    @Test func equalsFormKeepsLaterEqualsSignsInTheValue() throws {
        #expect(try spec.parse(["--role=a=b"]).values == ["role": "a=b"])
        #expect(try spec.parse(["--role="]).values == ["role": ""])
    }

    @Test func switchesAreRecorded() throws {
        let parsed = try spec.parse(["--print-config", "--role", "ceo"])
        #expect(parsed.switches == ["print-config"])
        #expect(parsed.values == ["role": "ceo"])
    }

    @Test func unknownOptionIsAUsageError() throws {
        let error = try #require(usageError(["--rol", "cto"]))
        #expect(error.contains("unknown option --rol"))
        #expect(error.contains("--help"))
    }

    @Test func missingValueIsAUsageError() throws {
        let error = try #require(usageError(["--print-config", "--role"]))
        #expect(error.contains("--role needs a value"))
    }

    @Test func switchGivenAValueIsAUsageError() throws {
        let error = try #require(usageError(["--help=yes"]))
        #expect(error.contains("--help takes no value"))
    }

    @Test(arguments: [["cto"], ["-r", "cto"], ["--"]])
    func bareArgumentsAreUsageErrors(arguments: [String]) throws {
        let error = try #require(usageError(arguments))
        #expect(error.contains("unexpected argument"))
    }

    @Test func helpListsEveryOption() {
        let help = spec.help
        for option in ["--config FILE", "--role ID", "--max-line-bytes N", "--print-config", "--version"] {
            #expect(help.contains(option))
        }
    }

    /// The usage message `spec.parse(arguments)` throws, or nil when it does not throw `.usage`.
    func usageError(_ arguments: [String]) -> String? {
        do {
            _ = try spec.parse(arguments)
            return nil
        } catch {
            if case .usage(let message) = error { return message }
            return nil
        }
    }
}

@Suite("Config sections of the wrong type")
struct ConfigSectionTypeTests {
    @Test(arguments: ["capacity", "mcp"])
    func aSectionThatIsNotAnObjectIsRejectedNamingIt(section: String) throws {
        let dir = try TempDir(label: "app-test")
        defer { dir.remove() }
        let path = try dir.writeFile("config.json", "{\"\(section)\": 5}")
        let error = loadError(flags: ["config": path])
        #expect(error != nil)
        #expect(error.map { "\($0)".contains(section) } == true)
    }
}
