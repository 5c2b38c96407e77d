import JSON
import Log
import PoolHTTP
import Runs
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

let testToken = "test-pool-token-0123456789"

// MARK: - Waiting

/// Runs blocking socket code on a thread of its own, so tests never block the (small)
/// cooperative pool the server's dispatcher tasks need.
func onThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { (continuation: CheckedContinuation<T, Never>) in
        let box = Unmanaged.passRetained(ThreadBody { continuation.resume(returning: body()) }).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(
            &thread, nil,
            { raw in
                Unmanaged<ThreadBody>.fromOpaque(raw!).takeRetainedValue().run()
                return nil
            }, box)
        precondition(rc == 0, "pthread_create failed")
        pthread_detach(thread)
    }
}

private final class ThreadBody: @unchecked Sendable {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}

// MARK: - A dispatcher the tests control

/// A `RunDispatcher` whose behaviour each test picks, recording what the server asked of it.
final class FakeDispatcher: RunDispatcher {
    enum Behaviour: Sendable {
        /// Emits `accepted`, then `progress` events `progressEvents` times, sleeps `after`, returns `status`.
        case complete(after: Duration, status: RunStatus = .ok, progressEvents: Int = 0)
        /// Answers POOL_BUSY at once, before any event.
        case busy(retryAfterMs: Int)
        /// Answers `status` at once, before any event (POOL_DRAINING, REJECTED...).
        case refuse(RunStatus, message: String)
        /// Emits `accepted`, then waits until its task is cancelled or `cancel(runID:)` is called.
        case holdUntilCancelled
    }

    struct Record {
        var submitted: [RunRequest] = []
        var active: Set<String> = []
        /// Runs whose submit task saw `Task.isCancelled`.
        var taskCancelled: Set<String> = []
        var cancelCalls: [String] = []
        var cancelRequested: Set<String> = []
    }

    let behaviour: Behaviour
    let record = Mutex(Record())

    init(_ behaviour: Behaviour) { self.behaviour = behaviour }

    var submitted: [RunRequest] { record.withLock { $0.submitted } }
    var taskCancelled: Set<String> { record.withLock { $0.taskCancelled } }
    var active: Set<String> { record.withLock { $0.active } }
    var cancelCalls: [String] { record.withLock { $0.cancelCalls } }

    func submit(_ request: RunRequest, events: @escaping @Sendable (RunEvent) -> Void) async -> RunResult {
        record.withLock { $0.submitted.append(request) }
        let started = ContinuousClock.now
        func result(_ status: RunStatus, _ message: String = "", output: String = "") -> RunResult {
            let ms = Int((ContinuousClock.now - started).components.seconds * 1000)
            return RunResult(
                status: status, runID: request.runID, task: request.task, adapter: request.adapter, pod: "test-pod",
                exitCode: status == .ok ? 0 : nil, output: output, durationMs: ms, message: message)
        }
        switch behaviour {
        case .complete(let after, let status, let progressEvents):
            events(.accepted(runID: request.runID, pod: "test-pod"))
            for i in 0..<progressEvents { events(.progress(runID: request.runID, elapsedMs: i + 1)) }
            try? await Task.sleep(for: after)
            if Task.isCancelled { record.withLock { _ = $0.taskCancelled.insert(request.runID) } }
            return result(status, output: "done: \(request.prompt ?? "")")
        case .busy(let retryAfterMs):
            var r = RunResult.refused(.poolBusy, request, message: "all 4 slots are busy", pod: "test-pod")
            r.retryAfterMs = retryAfterMs
            return r
        case .refuse(let status, let message):
            return RunResult.refused(status, request, message: message, pod: "test-pod")
        case .holdUntilCancelled:
            record.withLock { _ = $0.active.insert(request.runID) }
            events(.accepted(runID: request.runID, pod: "test-pod"))
            while !Task.isCancelled && !record.withLock({ $0.cancelRequested.contains(request.runID) }) {
                try? await Task.sleep(for: .milliseconds(5))
            }
            record.withLock { r in
                r.active.remove(request.runID)
                if Task.isCancelled { r.taskCancelled.insert(request.runID) }
            }
            return result(.cancelled, "cancelled")
        }
    }

    func cancel(runID: String) async -> Bool {
        record.withLock { r in
            r.cancelCalls.append(runID)
            guard r.active.contains(runID) else { return false }
            r.cancelRequested.insert(runID)
            return true
        }
    }

    func status() async -> PoolStatus {
        let active = self.active.sorted()
        return PoolStatus(
            pod: "test-pod", slots: 4, busy: active.count, draining: false,
            runs: active.enumerated().map {
                .init(runID: $0.element, slot: $0.offset, task: "t", adapter: "command", callerAgent: nil, elapsedMs: 1, pod: "test-pod")
            })
    }
}

// MARK: - Servers

/// A started server on 127.0.0.1 with an ephemeral port; `stop()` it at the end of the test.
func startServer(
    _ dispatcher: FakeDispatcher, token: String? = testToken, maxBodyBytes: Int = 8 << 20,
    progressInterval: Duration = .milliseconds(50), metrics: PoolMetrics = PoolMetrics()
) throws -> PoolHTTPServer {
    let server = PoolHTTPServer(
        host: "127.0.0.1", port: 0, token: token, dispatcher: dispatcher, metrics: metrics, logger: .discard,
        maxBodyBytes: maxBodyBytes, progressInterval: progressInterval, podName: "test-pod")
    try server.start()
    return server
}

func sampleRequest(_ id: String = "run-1", prompt: String = "say hello") -> RunRequest {
    RunRequest(runID: id, task: "greet", prompt: prompt, adapter: "command")
}

/// A port nothing listens on: bound, read, then closed again.
func closedPort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { p in
            bind(fd, p, len)
            return getsockname(fd, p, &len)
        }
    }
    return Int(UInt16(bigEndian: addr.sin_port))
}

// MARK: - A raw HTTP/1.1 client (blocking; use on `onThread`)

struct HTTPResponse: Sendable {
    var status: Int
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    func header(_ name: String) -> String? {
        headers.last(where: { $0.name == name.lowercased() })?.value
    }
    var text: String { String(decoding: body, as: UTF8.self) }
    var json: JSON? { try? JSON.parse(body) }
}

/// One TCP connection to the server speaking just enough HTTP/1.1 for the tests.
final class RawConnection: @unchecked Sendable {
    let fd: Int32
    private var buffer: [UInt8] = []
    private var decoded: [UInt8] = []
    private var chunkedDone = false

    init?(port: Int, receiveTimeout: Int = 5) {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var tv = timeval(tv_sec: receiveTimeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            close(fd)
            return nil
        }
    }

    deinit { close(fd) }

    /// Closes the socket now (the "client went away" of the disconnect tests).
    func hangUp() { shutdown(fd, Int32(SHUT_RDWR)) }

    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool {
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + off, bytes.count - off, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            off += n
        }
        return true
    }

    @discardableResult
    func send(_ text: String) -> Bool { send(Array(text.utf8)) }

    /// Sends a request head (and body, if any) with `Host` and `Content-Length` filled in.
    @discardableResult
    func sendRequest(_ method: String, _ path: String, headers: [String] = [], body: [UInt8]? = nil) -> Bool {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        for h in headers { head += h + "\r\n" }
        if let body { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        return send(Array(head.utf8) + (body ?? []))
    }

    private func fill() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return false }
        buffer.append(contentsOf: chunk[0..<n])
        return true
    }

    private func readLine() -> String? {
        while true {
            if let i = buffer.firstIndex(of: 0x0A) {
                var line = Array(buffer[..<i])
                buffer.removeFirst(i + 1)
                if line.last == 0x0D { line.removeLast() }
                return String(decoding: line, as: UTF8.self)
            }
            guard fill() else { return nil }
        }
    }

    private func readExactly(_ n: Int) -> [UInt8]? {
        while buffer.count < n { guard fill() else { return nil } }
        let out = Array(buffer[..<n])
        buffer.removeFirst(n)
        return out
    }

    /// Status and headers of the next response (skipping any 100 Continue).
    func readHead() -> (status: Int, headers: [(name: String, value: String)])? {
        while true {
            guard let statusLine = readLine() else { return nil }
            let parts = statusLine.split(separator: " ")
            guard parts.count >= 2, let status = Int(parts[1]) else { return nil }
            var headers: [(name: String, value: String)] = []
            while let line = readLine(), !line.isEmpty {
                guard let colon = line.firstIndex(of: ":") else { continue }
                headers.append(
                    (line[..<colon].lowercased(), String(line[line.index(after: colon)...].drop(while: { $0 == " " }))))
            }
            if status == 100 { continue }
            return (status, headers)
        }
    }

    /// The next decoded piece of a chunked body; nil at its end (or on EOF).
    func readChunk() -> [UInt8]? {
        guard !chunkedDone, let sizeLine = readLine() else { return nil }
        let hex = sizeLine.split(separator: ";").first.map(String.init) ?? ""
        guard let size = Int(hex.trimmingSpaces, radix: 16) else { return nil }
        if size == 0 {
            while let trailer = readLine(), !trailer.isEmpty {}
            chunkedDone = true
            return nil
        }
        guard let data = readExactly(size), readLine() != nil else { return nil }
        return data
    }

    /// The next line of a chunked NDJSON body; nil when the body (or the connection) ends.
    func readStreamLine() -> String? {
        while true {
            if let i = decoded.firstIndex(of: 0x0A) {
                let line = Array(decoded[..<i])
                decoded.removeFirst(i + 1)
                return String(decoding: line, as: UTF8.self)
            }
            guard let chunk = readChunk() else { return nil }
            decoded.append(contentsOf: chunk)
        }
    }

    /// A whole response: Content-Length, chunked, or until the server closes.
    func readResponse() -> HTTPResponse? {
        guard let (status, headers) = readHead() else { return nil }
        let find = { (n: String) in headers.last(where: { $0.name == n })?.value }
        var body: [UInt8] = []
        if let te = find("transfer-encoding"), te.lowercased().contains("chunked") {
            while let chunk = readChunk() { body += chunk }
        } else if let cl = find("content-length"), let n = Int(cl) {
            body = readExactly(n) ?? []
        } else {
            while fill() {}
            body = buffer
            buffer = []
        }
        return HTTPResponse(status: status, headers: headers, body: body)
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " || s.first == "\t" { s.removeFirst() }
        while s.last == " " || s.last == "\t" { s.removeLast() }
        return String(s)
    }
}

/// One request on a fresh connection, answered whole.
func request(
    _ port: Int, _ method: String, _ path: String, token: String? = nil, headers: [String] = [], body: [UInt8]? = nil
) async -> HTTPResponse? {
    await onThread {
        guard let c = RawConnection(port: port) else { return nil }
        var h = headers
        if let token { h.append("Authorization: Bearer \(token)") }
        guard c.sendRequest(method, path, headers: h, body: body) else { return nil }
        return c.readResponse()
    }
}

func runBody(_ r: RunRequest = sampleRequest()) -> [UInt8] { Array(r.json.text.utf8) }

// MARK: - A scripted raw server (for answers the real server never gives)

/// Accepts one connection, reads the request, writes `response` verbatim and closes.
final class ScriptedServer: @unchecked Sendable {
    let port: Int
    private let fd: Int32

    init?(response: String) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { p in
                bind(fd, p, len) == 0 && listen(fd, 4) == 0 && getsockname(fd, p, &len) == 0
            }
        }
        guard ok else {
            close(fd)
            return nil
        }
        port = Int(UInt16(bigEndian: addr.sin_port))
        let listener = fd
        Task.detached {
            await onThread {
                let client = accept(listener, nil, nil)
                guard client >= 0 else { return }
                defer { close(client) }
                // Read the head and the Content-Length body so closing sends no reset.
                var got: [UInt8] = []
                var buf = [UInt8](repeating: 0, count: 4096)
                var needed = Int.max
                while got.count < needed {
                    let n = buf.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
                    if n <= 0 { break }
                    got += buf[0..<n]
                    if needed == .max, let end = got.indices.dropLast(3).first(where: { got[$0..<($0 + 4)] == [13, 10, 13, 10] }) {
                        let head = String(decoding: got[..<end], as: UTF8.self).lowercased()
                        let cl = head.split(separator: "\r\n").first(where: { $0.hasPrefix("content-length:") })
                            .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters) } ?? 0
                        needed = end + 4 + cl
                    }
                }
                let bytes = Array(response.utf8)
                _ = bytes.withUnsafeBytes { Glibc.send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            }
        }
    }

    deinit { close(fd) }
}

extension Substring {
    fileprivate var trimmingCharacters: String { String(self).trimmingSpaces }
}
