/// A parsed command line: `super-agent <subcommand> [--flag value | --flag=value | --switch]...`.
public struct ParsedArguments: Sendable, Equatable {
    public var values: [String: String] = [:]
    public var switches: Set<String> = []
}

/// One subcommand's accepted options, for parsing and for `--help`.
public struct CommandSpec: Sendable {
    public let name: String
    public let summary: String
    /// Options taking a value: name (without `--`), placeholder, help text.
    public let options: [(name: String, placeholder: String, help: String)]
    /// Options without a value.
    public let switches: [(name: String, help: String)]
    /// Options that may be given more than once.
    public var repeatable: Set<String> = ["workspace-root"]

    public init(name: String, summary: String, options: [(name: String, placeholder: String, help: String)], switches: [(name: String, help: String)]) {
        self.name = name
        self.summary = summary
        self.options = options
        self.switches = switches
    }

    /// Parses `arguments` (after the subcommand), refusing unknown options and missing values.
    public func parse(_ arguments: [String]) throws(ConfigError) -> ParsedArguments {
        var parsed = ParsedArguments()
        var i = 0
        while i < arguments.count {
            let arg = arguments[i]
            guard arg.hasPrefix("--"), arg.count > 2 else {
                throw .usage("super-agent \(name): unexpected argument \"\(arg)\"; see super-agent \(name) --help")
            }
            var key = String(arg.dropFirst(2))
            var inline: String? = nil
            if let eq = key.firstIndex(of: "=") {
                inline = String(key[key.index(after: eq)...])
                key = String(key[..<eq])
            }
            if switches.contains(where: { $0.name == key }) {
                guard inline == nil else { throw .usage("super-agent \(name): --\(key) takes no value") }
                parsed.switches.insert(key)
            } else if options.contains(where: { $0.name == key }) {
                var value: String
                if let inline {
                    value = inline
                } else {
                    guard i + 1 < arguments.count else { throw .usage("super-agent \(name): --\(key) needs a value") }
                    i += 1
                    value = arguments[i]
                }
                // A repeatable option (--workspace-root A --workspace-root B) accumulates, colon-separated.
                if repeatable.contains(key), let previous = parsed.values[key] { value = previous + ":" + value }
                parsed.values[key] = value
            } else {
                throw .usage("super-agent \(name): unknown option --\(key); see super-agent \(name) --help")
            }
            i += 1
        }
        return parsed
    }

    /// Parses `arguments`, answering `--help` and `--version` (and exiting) the same way for every command.
    public func parseAnsweringHelp(_ arguments: [String]) throws(ConfigError) -> ParsedArguments {
        let parsed = try parse(arguments)
        if parsed.switches.contains("help") { exitPrinting(help) }
        if parsed.switches.contains("version") { exitPrinting("super-agent \(SuperAgentVersion.current)") }
        return parsed
    }

    /// The switches every command has.
    public static let helpAndVersion: [(name: String, help: String)] = [("help", "show this help"), ("version", "show the version")]
    public static let printConfig: (name: String, help: String) = ("print-config", "print the effective configuration as JSON and exit")

    public var help: String {
        var lines = ["usage: super-agent \(name) [options]", "", summary, "", "options:"]
        let width = max(
            options.map { $0.name.count + $0.placeholder.count + 3 }.max() ?? 0,
            switches.map { $0.name.count + 2 }.max() ?? 0)
        func row(_ left: String, _ help: String) -> String {
            "  " + left + String(repeating: " ", count: width - left.count + 2) + help
        }
        for o in options { lines.append(row("--\(o.name) \(o.placeholder)", o.help)) }
        for s in switches { lines.append(row("--\(s.name)", s.help)) }
        return lines.joined(separator: "\n")
    }
}
