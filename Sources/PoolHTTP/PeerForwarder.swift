import Log
import Runs

/// Forwards a run to a peer pod over the same HTTP API clients use, passing its stream through.
public struct PeerForwarder: RunForwarder {
    let token: String?
    let logger: Logger

    public init(token: String?, logger: Logger) {
        self.token = token
        self.logger = logger
    }

    public func forward(_ request: RunRequest, to baseURL: String, events: @escaping @Sendable (RunEvent) -> Void) async -> RunResult {
        await PoolHTTPClient(baseURL: baseURL, token: token, logger: logger).submit(request, events: events)
    }
}
