import CMicroHTTPD
import JSON
import Log
import Runs
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why the pool's HTTP server would not start.
public enum PoolHTTPServerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No token was given and unauthenticated access was not explicitly allowed.
    case missingToken
    /// The listen host could not be resolved to an address.
    case badAddress(String)
    /// libmicrohttpd could not listen (port taken, permission denied, ...).
    case listenFailed(String)
    case alreadyStarted

    public var description: String {
        switch self {
        case .missingToken:
            "the pool server needs a token (SUPER_AGENT_POOL_TOKEN); pass allowUnauthenticated only for local testing"
        case .badAddress(let s): "cannot listen on \(s): not an address this host can bind"
        case .listenFailed(let s): "cannot listen on \(s)"
        case .alreadyStarted: "the pool server is already started"
        }
    }
}

/// The pool pod's HTTP/1.1 API on libmicrohttpd.
///
/// `POST /v1/runs` streams a run as NDJSON (`accepted`, `progress`..., `result`), or answers 429 /
/// 503 / 400 when the dispatcher refuses the run before accepting it; a client that disconnects
/// mid-stream cancels its run. `DELETE /v1/runs/{id}` and `GET /v1/status` need the bearer token
/// too; `/healthz`, `/readyz` and `/metrics` do not.
///
/// Each connection gets its own libmicrohttpd thread, which blocks while its run streams; the
/// dispatcher runs in Swift tasks. Call `stop()` before dropping the server (it blocks for up to
/// about 100 ms while connection threads notice).
public final class PoolHTTPServer: Sendable {
    public let host: String
    /// The port asked for; 0 picks an ephemeral one (see `port` once started).
    public let requestedPort: Int
    private let core: ServerCore
    private let daemon = Mutex<DaemonHandle?>(nil)

    /// - Parameters:
    ///   - token: the pool token clients must present as `Authorization: Bearer`; `nil` (or empty)
    ///     refuses to start unless `allowUnauthenticated` is true.
    ///   - maxBodyBytes: the largest `POST /v1/runs` body accepted (413 above it).
    ///   - progressInterval: how often the server adds its own `progress` line to a stream.
    ///   - maxConnections: concurrent connections (each holds a thread while open).
    public init(
        host: String, port: Int, token: String?, allowUnauthenticated: Bool = false,
        dispatcher: any RunDispatcher, metrics: PoolMetrics, logger: Logger, maxBodyBytes: Int = 8 << 20,
        progressInterval: Duration = .seconds(2), podName: String, maxConnections: Int = 256
    ) {
        self.host = host
        self.requestedPort = port
        let token = (token?.isEmpty ?? true) ? nil : token
        self.core = ServerCore(
            auth: BearerAuth(token: token), tokenMissing: token == nil && !allowUnauthenticated,
            dispatcher: dispatcher, metrics: metrics, logger: logger, maxBodyBytes: max(0, maxBodyBytes),
            progressInterval: progressInterval, podName: podName, maxConnections: max(1, maxConnections))
    }

    deinit { stop() }

    /// The port actually bound (the ephemeral one when `port` was 0); 0 before `start()` and after `stop()`.
    public var port: Int { daemon.withLock { Int($0?.port ?? 0) } }

    /// Whether `beginDrain()` was called.
    public var isDraining: Bool { core.draining.load(ordering: .acquiring) }

    /// Binds and starts serving on libmicrohttpd's threads; returns once listening.
    public func start() throws(PoolHTTPServerError) {
        if core.tokenMissing { throw .missingToken }
        let target = host.contains(":") ? "[\(host)]:\(requestedPort)" : "\(host):\(requestedPort)"
        let result: Result<DaemonHandle, PoolHTTPServerError> = daemon.withLock { slot in
            if slot != nil { return .failure(.alreadyStarted) }
            guard (0...65535).contains(requestedPort), var address = SocketAddress(host: host, port: UInt16(requestedPort)) else { return .failure(.badAddress(target)) }
            core.stopping.set(false)
            let cls = Unmanaged.passUnretained(core).toOpaque()
            let timeout = UInt32(max(60, 3 * Int(core.progressInterval.components.seconds) + 1))
            let ipv6: Int32 = address.isIPv6 ? 1 : 0
            let started = address.withSockaddr { sa in
                sa_mhd_start(
                    ipv6, sa, poolAccessHandler, cls, poolRequestCompleted, cls,
                    UInt32(core.maxConnections), 64 * 1024, timeout)
            }
            guard let started else {
                return .failure(.listenFailed("\(target): \(String(cString: strerror(errno)))"))
            }
            let handle = DaemonHandle(pointer: started, port: sa_mhd_bound_port(started))
            slot = handle
            return .success(handle)
        }
        let handle = try result.get()
        core.logger.info(
            "pool HTTP server listening",
            ["host": .string(host), "port": JSON(Int(handle.port)), "pod": .string(core.podName)])
    }

    /// Refuses new runs from now on (503 POOL_DRAINING, `/readyz` 503); running streams go on.
    public func beginDrain() {
        if !core.draining.exchange(true, ordering: .acquiringAndReleasing) {
            core.logger.info("pool HTTP server draining", ["pod": .string(core.podName)])
        }
    }

    /// Closes the listener and every connection (cancelling their runs) and joins the threads.
    /// Idempotent.
    public func stop() {
        guard let handle = daemon.withLock({ slot -> DaemonHandle? in
            defer { slot = nil }
            return slot
        }) else { return }
        core.stopping.set(true)
        sa_mhd_stop_daemon(handle.pointer)
        core.logger.info("pool HTTP server stopped", ["pod": .string(core.podName)])
    }
}

/// The running daemon, as `start()` left it.
private struct DaemonHandle: @unchecked Sendable {
    let pointer: OpaquePointer
    let port: UInt16
}

/// A resolved listen address.
private struct SocketAddress {
    private var storage = sockaddr_storage()
    let isIPv6: Bool

    init?(host: String, port: UInt16) {
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host.isEmpty ? nil : host, String(port), &hints, &list) == 0, let list else { return nil }
        defer { freeaddrinfo(list) }
        var chosen: UnsafeMutablePointer<addrinfo>? = list
        while let c = chosen, c.pointee.ai_family != AF_INET && c.pointee.ai_family != AF_INET6 {
            chosen = c.pointee.ai_next
        }
        guard let c = chosen, let addr = c.pointee.ai_addr else { return nil }
        isIPv6 = c.pointee.ai_family == AF_INET6
        withUnsafeMutableBytes(of: &storage) { dst in
            dst.copyMemory(from: UnsafeRawBufferPointer(start: addr, count: Int(c.pointee.ai_addrlen)))
        }
    }

    mutating func withSockaddr<T>(_ body: (UnsafePointer<sockaddr>) -> T) -> T {
        withUnsafePointer(to: &storage) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0) }
        }
    }
}

// MARK: - libmicrohttpd callbacks (C function pointers, so no captures)

private func poolAccessHandler(
    cls: UnsafeMutableRawPointer?, connection: OpaquePointer?, url: UnsafePointer<CChar>?,
    method: UnsafePointer<CChar>?, version: UnsafePointer<CChar>?, uploadData: UnsafePointer<CChar>?,
    uploadDataSize: UnsafeMutablePointer<Int>?, conCls: UnsafeMutablePointer<UnsafeMutableRawPointer?>?
) -> MHD_Result {
    guard let cls, let connection, let url, let method, let uploadDataSize, let conCls else { return MHD_Result.NO }
    let core = Unmanaged<ServerCore>.fromOpaque(cls).takeUnretainedValue()
    return core.handle(
        connection: connection, url: String(cString: url), method: String(cString: method), uploadData: uploadData,
        uploadDataSize: uploadDataSize, conCls: conCls)
}

private func poolRequestCompleted(
    cls: UnsafeMutableRawPointer?, connection: OpaquePointer?, conCls: UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
    toe: MHD_RequestTerminationCode
) {
    guard let cls, let conCls, let raw = conCls.pointee else { return }
    conCls.pointee = nil
    let core = Unmanaged<ServerCore>.fromOpaque(cls).takeUnretainedValue()
    let context = Unmanaged<RequestContext>.fromOpaque(raw).takeRetainedValue()
    core.completed(context, termination: toe)
}
