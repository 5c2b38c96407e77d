import Dispatch
import JSON
import Log
import Signals

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs an `MCPServer` over stdin/stdout until EOF, SIGTERM or SIGINT, then exits 0 after
/// cancelling in-flight work (within about half a second).
/// - SeeAlso: MCP 2025-11-25, basic/transports (stdio).
public enum StdioTransport {
    /// Blocks reading stdin on the calling thread; never returns. `spin`: see `readLines`.
    public static func run(_ server: MCPServer, maxLineBytes: Int, spin: Duration = .zero, logger: Logger) -> Never {
        // On EOF the client may still be reading: let quick calls finish first. On a signal, stop now.
        let stop: @Sendable (String, Duration) -> Void = { reason, drain in
            logger.info("stopping", ["reason": .string(reason), "inFlight": .int(Int64(server.inFlightCount))])
            let done = DispatchSemaphore(value: 0)
            Task {
                await server.shutdown(drain: drain, grace: .milliseconds(400))
                done.signal()
            }
            _ = done.wait(timeout: .now() + .milliseconds(900))
            exit(0)
        }
        TerminationSignals.watch { name in stop(name, .zero) }
        readLines(fd: 0, maxLineBytes: maxLineBytes, spin: spin) { event in
            switch event {
            case .line(let bytes): server.receive(line: bytes)
            case .oversized(let count): server.receiveOversized(byteCount: count, limit: maxLineBytes)
            }
        }
        stop("stdin closed", .milliseconds(400))
        exit(0)
    }
}
