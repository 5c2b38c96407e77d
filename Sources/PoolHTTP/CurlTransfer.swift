import CCurl
import Synchronization

/// `curl_global_init`, exactly once per process, before the first handle.
enum CurlGlobal {
    static let initialized: Bool = sa_curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK
}

/// How one HTTP exchange ended.
struct TransferOutcome: Sendable {
    var code: CURLcode = CURLE_OK
    /// The HTTP status, 0 when no response arrived.
    var httpStatus = 0
    /// curl's own wording of the failure (the error buffer, or `curl_easy_strerror`).
    var errorText = ""
    /// Response headers, names lowercased, of the final response.
    var headers: [(name: String, value: String)] = []
    var cancelled = false

    func header(_ name: String) -> String? {
        let n = name.lowercased()
        return headers.last(where: { $0.name == n })?.value
    }
}

/// One libcurl easy handle driven by its own multi handle on a dedicated thread, so it can be
/// cancelled from any thread at once (`curl_multi_wakeup`) and never blocks Swift's pool.
///
/// `run()` must be called once, on a thread of its own; `cancel()` from anywhere, any time.
final class CurlTransfer: @unchecked Sendable {
    struct Request {
        var url: String
        var method: String
        var headers: [String] = []
        var body: [UInt8]?
        var connectTimeout: Duration
        /// Whole-transfer limit; `nil` for streams, which end when the run does.
        var totalTimeout: Duration?
        /// Abort when fewer than 1 byte/s arrives for this long (a dead peer); `nil` for none.
        var idleTimeout: Duration?
    }

    private let easy: UnsafeMutableRawPointer
    private let multi: UnsafeMutableRawPointer
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
    /// `finished` guards `multi` against a wakeup after cleanup.
    private let control = Mutex<(finished: Bool, cancelled: Bool)>((false, false))

    // Only the transfer thread touches these.
    private var headers: [(name: String, value: String)] = []
    private let onData: @Sendable (UnsafeRawBufferPointer, Int) -> Bool

    /// `onData(bytes, httpStatus)` sees the body as it arrives; returning false aborts.
    init?(_ request: Request, onData: @escaping @Sendable (UnsafeRawBufferPointer, Int) -> Bool) {
        guard CurlGlobal.initialized, let easy = sa_curl_easy_init() else { return nil }
        guard let multi = sa_curl_multi_init() else {
            sa_curl_easy_cleanup(easy)
            return nil
        }
        self.easy = easy
        self.multi = multi
        self.onData = onData
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)

        func ms(_ d: Duration) -> Int { max(1, Int(d.nanoseconds / 1_000_000)) }
        _ = sa_curl_setopt_pointer(easy, CURLOPT_URL, request.url)
        _ = sa_curl_setopt_long(easy, CURLOPT_NOSIGNAL, 1)
        _ = sa_curl_setopt_pointer(easy, CURLOPT_ERRORBUFFER, errorBuffer)
        // The pool is addressed directly; an environment proxy must not intercept it.
        _ = sa_curl_setopt_pointer(easy, CURLOPT_PROXY, "")
        _ = sa_curl_setopt_pointer(easy, CURLOPT_PROTOCOLS_STR, "http,https")
        _ = sa_curl_setopt_long(easy, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1)
        _ = sa_curl_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, ms(request.connectTimeout))
        if let total = request.totalTimeout { _ = sa_curl_setopt_long(easy, CURLOPT_TIMEOUT_MS, ms(total)) }
        if let idle = request.idleTimeout {
            _ = sa_curl_setopt_long(easy, CURLOPT_LOW_SPEED_LIMIT, 1)
            _ = sa_curl_setopt_long(easy, CURLOPT_LOW_SPEED_TIME, max(1, Int(idle.components.seconds)))
        }
        _ = sa_curl_setopt_long(easy, CURLOPT_TCP_KEEPALIVE, 1)
        _ = sa_curl_setopt_long(easy, CURLOPT_TCP_KEEPIDLE, 30)
        _ = sa_curl_setopt_long(easy, CURLOPT_TCP_KEEPINTVL, 15)
        _ = sa_curl_setopt_pointer(easy, CURLOPT_USERAGENT, "super-agent-pool-client")

        switch request.method {
        case "GET": break
        case "POST":
            _ = sa_curl_setopt_long(easy, CURLOPT_POST, 1)
        default:
            _ = sa_curl_setopt_pointer(easy, CURLOPT_CUSTOMREQUEST, request.method)
        }
        if let body = request.body {
            _ = sa_curl_setopt_off(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count))
            body.withUnsafeBytes { raw in
                // COPYPOSTFIELDS copies, so the array need not outlive this call.
                _ = sa_curl_setopt_pointer(easy, CURLOPT_COPYPOSTFIELDS, raw.baseAddress ?? UnsafeRawPointer(errorBuffer))
            }
        }
        // "Expect:" turns off curl's 100-continue round trip for larger bodies.
        for h in request.headers + ["Expect:"] { headerList = sa_curl_slist_append(headerList, h) }
        _ = sa_curl_setopt_slist(easy, CURLOPT_HTTPHEADER, headerList)

        let me = Unmanaged.passUnretained(self).toOpaque()
        _ = sa_curl_setopt_write_callback(
            easy, CURLOPT_WRITEFUNCTION,
            { data, size, count, user in
                guard let user else { return 0 }
                let n = size * count
                let transfer = Unmanaged<CurlTransfer>.fromOpaque(user).takeUnretainedValue()
                return transfer.received(UnsafeRawBufferPointer(start: data, count: n)) ? n : 0
            })
        _ = sa_curl_setopt_pointer(easy, CURLOPT_WRITEDATA, me)
        _ = sa_curl_setopt_write_callback(
            easy, CURLOPT_HEADERFUNCTION,
            { data, size, count, user in
                guard let user else { return 0 }
                let n = size * count
                let transfer = Unmanaged<CurlTransfer>.fromOpaque(user).takeUnretainedValue()
                transfer.headerLine(UnsafeRawBufferPointer(start: data, count: n))
                return n
            })
        _ = sa_curl_setopt_pointer(easy, CURLOPT_HEADERDATA, me)
    }

    deinit {
        errorBuffer.deallocate()
    }

    /// Aborts the transfer as soon as its thread wakes (at once: `curl_multi_wakeup`); closing the
    /// connection is what tells the pool to cancel the run.
    func cancel() {
        control.withLock { state in
            guard !state.finished, !state.cancelled else { return }
            state.cancelled = true
            _ = sa_curl_multi_wakeup(multi)
        }
    }

    private var isCancelled: Bool { control.withLock { $0.cancelled } }

    /// Drives the transfer to its end. Blocks; call on a dedicated thread, once.
    func run() -> TransferOutcome {
        var outcome = TransferOutcome()
        _ = sa_curl_multi_add_handle(multi, easy)
        var running: Int32 = 1
        while true {
            if isCancelled {
                outcome.cancelled = true
                break
            }
            let mc = sa_curl_multi_perform(multi, &running)
            if mc != CURLM_OK {
                outcome.code = CURLE_FAILED_INIT
                outcome.errorText = String(cString: sa_curl_multi_strerror(mc))
                break
            }
            if running == 0 { break }
            _ = sa_curl_multi_poll(multi, nil, 0, 1000, nil)
        }
        if !outcome.cancelled && outcome.errorText.isEmpty {
            var left: Int32 = 0
            while let msg = sa_curl_multi_info_read(multi, &left) {
                if msg.pointee.msg == CURLMSG_DONE { outcome.code = msg.pointee.data.result }
            }
            if outcome.code != CURLE_OK {
                let detail = String(cString: errorBuffer)
                outcome.errorText = detail.isEmpty ? String(cString: sa_curl_easy_strerror(outcome.code)) : detail
            }
        }
        outcome.httpStatus = sa_curl_response_code(easy)
        outcome.headers = headers

        control.withLock { $0.finished = true }
        _ = sa_curl_multi_remove_handle(multi, easy)
        sa_curl_easy_cleanup(easy)
        _ = sa_curl_multi_cleanup(multi)
        sa_curl_slist_free_all(headerList)
        headerList = nil
        return outcome
    }

    private func received(_ bytes: UnsafeRawBufferPointer) -> Bool {
        if isCancelled { return false }
        return onData(bytes, sa_curl_response_code(easy))
    }

    private func headerLine(_ bytes: UnsafeRawBufferPointer) {
        var line = String(decoding: bytes, as: UTF8.self)
        while line.hasSuffix("\n") || line.hasSuffix("\r") { line.removeLast() }
        if line.hasPrefix("HTTP/") {
            headers = []  // a new response (after 100 Continue or a redirect)
            return
        }
        guard let colon = line.firstIndex(of: ":") else { return }
        let name = line[..<colon].lowercased()
        let value = line[line.index(after: colon)...].drop(while: { $0 == " " || $0 == "\t" })
        headers.append((name, String(value)))
    }
}

extension CurlTransfer {
    /// Runs `request` on a new thread; cancelling the calling task aborts it promptly.
    static func perform(
        _ request: Request, onData: @escaping @Sendable (UnsafeRawBufferPointer, Int) -> Bool
    ) async -> TransferOutcome {
        guard let transfer = CurlTransfer(request, onData: onData) else {
            var failed = TransferOutcome()
            failed.code = CURLE_FAILED_INIT
            failed.errorText = "libcurl could not be initialised"
            return failed
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<TransferOutcome, Never>) in
                spawnThread { continuation.resume(returning: transfer.run()) }
            }
        } onCancel: {
            transfer.cancel()
        }
    }
}
