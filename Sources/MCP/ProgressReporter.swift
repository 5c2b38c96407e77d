import JSON
import Log
import Synchronization

/// Sends `notifications/progress` for one request, keeping the values strictly increasing.
/// - SeeAlso: MCP 2025-11-25, basic/utilities/progress.
final class ProgressReporter: Sendable {
    private let token: JSON
    private let sink: MessageSink
    private let last = Mutex<Double?>(nil)

    init(token: JSON, sink: MessageSink) {
        self.token = token
        self.sink = sink
    }

    /// Picks the next value and sends it under one lock, so notifications reported from concurrent
    /// tasks reach the wire in increasing order too.
    func report(_ value: Double, total: Double?, message: String?) {
        last.withLock { last in
            var progress = value
            if let previous = last, progress <= previous { progress = previous.nextUp }
            guard progress.isFinite else { return }
            last = progress
            var params: JSONObject = ["progressToken": token, "progress": .double(progress)]
            if let total, total.isFinite { params["total"] = .double(total) }
            if let message { params["message"] = .string(message) }
            sink.send(OutgoingMessage.notification("notifications/progress", .object(params)))
        }
    }
}

/// Sends `notifications/message` at or above the level the client chose; nothing when it chose none.
struct ClientLog: Sendable {
    let sink: MessageSink?
    let level: LogLevel?
    var loggerName = "server"

    func send(_ level: LogLevel, _ message: String, data: JSON?) {
        guard let sink, let minimum = self.level, level >= minimum else { return }
        var payload: JSONObject = ["message": .string(message)]
        if let data { payload["data"] = data }
        let params: JSONObject = ["level": .string(level.rawValue), "logger": .string(loggerName), "data": .object(payload)]
        sink.send(OutgoingMessage.notification("notifications/message", .object(params)))
    }
}
