#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The `super-agent` command: dispatches to a subcommand.
public enum SuperAgentCLI {
    static let usage = """
        usage: super-agent <command> [options]

        A shared pool of runners for fleets of AI role agents.

        commands:
          mcp    serve the delegation and pool tools over MCP on stdio (mount this in Claude Code or Gemini CLI)
          pool   serve a pool pod over HTTP (POST /v1/runs, /v1/status, /metrics, probes)
          run    run one task on the pool from a shell and print the result JSON
          costs  what the runs cost: spend, tokens and savings from the run ledger

        Run super-agent <command> --help for a command's options.
        """

    public static func main(_ arguments: [String]) -> Never {
        let rest = Array(arguments.dropFirst())
        guard let command = rest.first else { exitPrinting(usage, to: 2, code: 64) }
        do {
            switch command {
            case "mcp": try MCPCommand.run(Array(rest.dropFirst()), environment: .current())
            case "pool": try PoolCommand.run(Array(rest.dropFirst()), environment: .current())
            case "run": try RunCommand.run(Array(rest.dropFirst()), environment: .current())
            case "costs": try CostsCommand.run(Array(rest.dropFirst()), environment: .current())
            case "--help", "-h", "help": exitPrinting(usage)
            case "--version", "-V": exitPrinting("super-agent \(SuperAgentVersion.current)")
            default: exitPrinting("super-agent: unknown command \"\(command)\"\n\n\(usage)", to: 2, code: 64)
            }
        } catch {
            // Usage messages already name the command.
            if case .usage(let message) = error { exitPrinting(message, to: 2, code: 64) }
            exitPrinting("super-agent \(command): \(error)", to: 2, code: 78)
        }
    }
}

/// Writes `text` and a newline to `fd`, then exits with `code`.
func exitPrinting(_ text: String, to fd: Int32 = 1, code: Int32 = 0) -> Never {
    var bytes = Array(text.utf8)
    bytes.append(0x0A)
    bytes.withUnsafeBytes { raw in
        var offset = 0
        while offset < raw.count {
            let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
            if n <= 0 { break }
            offset += n
        }
    }
    exit(code)
}
