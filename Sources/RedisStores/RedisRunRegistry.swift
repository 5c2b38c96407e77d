import Dispatch
import JSON
import Log
import Runs
import Synchronization

/// The run registry shared by every pod through Redis (`SUPER_AGENT_REDIS_URL`).
///
/// - The pod registers itself (slot count and advertised URL) with a TTL and refreshes it every
///   TTL/3; a pod that stops (SIGKILL) drops out within the TTL and is no longer chosen.
/// - A slot is a lease with an expiry (Redis server time). This registry renews every lease it holds
///   every TTL/3, so the leases of a killed pod come back within the TTL.
/// - `acquire` is one atomic Lua script: this pod if it has room, else the live pod with the most room
///   (ties by pod id), never past any pod's slot count. A lease naming a peer is forwarded there, and
///   the peer `adopt`s it (takes over its renewal).
/// - When Redis is unreachable the registry serves this pod's own slots only (`.degraded`), never more
///   than `slotCount` including the leases it already held, and reconnects with exponential backoff;
///   once back it re-registers and re-creates its live leases (`.shared`).
///
/// Every hiredis call blocks, so all of them run on the registry's own serial queue, each bounded by
/// `options`' timeouts; `leases()` and `health()` never wait on Redis.
public final class RedisRunRegistry: ClusterRunRegistry, @unchecked Sendable {
    public let slotCount: Int
    public let pod: String
    public let url: RedisURL
    public let advertiseURL: String
    public let leaseTTL: Duration
    public let keyPrefix: String
    public let options: RedisOptions
    private let retryAfterMs: Int
    private let ttlMs: Int
    private let logger: Logger
    private let queue: DispatchQueue

    // Touched only on `queue`.
    private var connection: RedisConnection?
    private var backoffMs: Int
    private var nextAttempt = ContinuousClock.now
    /// Bumped to retire a scheduled maintenance round when another is scheduled sooner (or on stop).
    private var generation = 0
    /// Releases made while Redis was unreachable, sent once it is back (they expire anyway).
    private var pendingReleases: [SlotLease] = []
    private var stopped = false

    /// What callers read without waiting on Redis. Changed only on `queue`.
    private struct State {
        /// Leases this registry holds and renews: runs on this pod, and leases it took on peers that
        /// they have not adopted yet.
        var held: [SlotLease] = []
        var mode: RegistryHealth.Mode = .degraded
        var detail: String
        var livePods = 1
        var peers: [String: String] = [:]
    }

    private let state: Mutex<State>

    /// - Parameters:
    ///   - url: where Redis is (`SUPER_AGENT_REDIS_URL`, parsed with `RedisURL(parsing:)`).
    ///   - pod: this pod's id, unique in the cluster (leases naming another pod belong to a peer).
    ///   - slots: runs this pod admits at once.
    ///   - advertiseURL: the base URL peers use to forward a run here (`SUPER_AGENT_ADVERTISE_URL`).
    ///   - leaseTTL: how long a lease or registration outlives its last renewal (renewed every TTL/3);
    ///     the same on every pod.
    ///   - keyPrefix: prefix of every key, so deployments (and tests) can share a Redis.
    ///   - retryAfterMs: the hint in `.full`.
    /// Connecting starts at once in the background; until it succeeds the registry is `.degraded`.
    public init(
        url: RedisURL, pod: String, slots: Int, advertiseURL: String = "", leaseTTL: Duration = .seconds(15),
        keyPrefix: String = RedisDefaults.keyPrefix, retryAfterMs: Int = 2000, options: RedisOptions = RedisOptions(),
        logger: Logger = .discard
    ) {
        precondition(slots >= 1, "a pool needs at least one slot")
        precondition(!pod.isEmpty, "a pod needs an id")
        precondition(leaseTTL >= .milliseconds(300), "the lease TTL must be at least 300 ms")
        self.slotCount = slots
        self.pod = pod
        self.url = url
        self.advertiseURL = advertiseURL
        self.leaseTTL = leaseTTL
        self.ttlMs = leaseTTL.milliseconds
        self.keyPrefix = keyPrefix
        self.retryAfterMs = retryAfterMs
        self.options = options
        self.logger = logger
        self.backoffMs = max(1, options.initialBackoff.milliseconds)
        self.queue = DispatchQueue(label: "super-agent.redis-registry.\(pod)")
        self.state = Mutex(State(detail: "connecting to redis at \(url)"))
        queue.async { [weak self] in self?.maintenanceRound(generation: 0) }
    }

    // MARK: RunRegistry

    public func acquire(runID: String) async -> Admission {
        await onQueue { $0.acquireNow(runID) }
    }

    public func release(_ lease: SlotLease) async {
        await onQueue { $0.releaseNow(lease) }
    }

    /// Leases this registry holds: runs on this pod, and leases it took on peers not adopted yet.
    public func leases() async -> [SlotLease] {
        state.withLock { $0.held }.sorted { ($0.pod, $0.slot) < ($1.pod, $1.slot) }
    }

    // MARK: ClusterRunRegistry

    public func health() async -> RegistryHealth {
        state.withLock { RegistryHealth(mode: $0.mode, detail: $0.detail, livePods: $0.mode == .shared ? $0.livePods : 1) }
    }

    public func peerURL(for pod: String) async -> String? {
        if pod == self.pod { return advertiseURL.isEmpty ? nil : advertiseURL }
        if let known = state.withLock({ $0.peers[pod] }) { return known.isEmpty ? nil : known }
        return await onQueue { $0.lookUpPeer(pod) }
    }

    /// Confirms, in Redis, that `lease` (which a peer acquired on this pod's behalf) is live and
    /// names this pod, and takes over renewing it. False when it is not (or no longer) held, when it
    /// would put this pod past its slots, or when Redis is unreachable (it cannot be confirmed).
    public func adopt(_ lease: SlotLease) async -> Bool {
        await onQueue { $0.adoptNow(lease) }
    }

    // MARK: Control

    /// One maintenance round now: the heartbeat when connected, else a reconnect attempt (ignoring the
    /// backoff). Returns the health after it. For start-up checks and tests.
    @discardableResult
    public func refresh() async -> RegistryHealth {
        await onQueue { r in
            guard !r.stopped else { return }
            _ = r.maintain(force: true)
            r.restartMaintenance(afterMs: r.connection == nil ? r.backoffMs : r.ttlMs / 3)
        }
        return await health()
    }

    /// Stops the heartbeat, releases every lease held and removes the pod's registration, so peers stop
    /// choosing it at once. Call after draining; later acquires answer `.full`.
    public func shutdown() async {
        await onQueue { r in
            guard !r.stopped else { return }
            r.stopped = true
            r.generation += 1
            let held = r.state.withLock { s in
                defer { s.held = [] }
                return s.held
            }
            if let connection = r.connection {
                do {
                    for lease in held + r.pendingReleases {
                        _ = try connection.eval(RegistryScripts.release, [r.keyPrefix, r.pod, lease.pod, String(lease.slot), lease.runID])
                    }
                    _ = try connection.eval(RegistryScripts.deregister, [r.keyPrefix, r.pod])
                } catch {
                    r.logger.warning("redis registry: shutdown could not clean up; the leases expire on their own", ["error": .string("\(error)")])
                }
            }
            r.connection = nil
            r.pendingReleases = []
            r.state.withLock {
                $0.mode = .degraded
                $0.detail = "the registry was shut down"
            }
        }
    }

    /// Stops all background work and drops the connection without releasing or deregistering anything:
    /// what SIGKILL does to a pod. For tests.
    func halt() async {
        await onQueue { r in
            r.stopped = true
            r.generation += 1
            r.connection = nil
        }
    }

    // MARK: On the queue

    private func onQueue<T: Sendable>(_ body: @escaping @Sendable (RedisRunRegistry) -> T) async -> T {
        await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: body(self)) }
        }
    }

    private func acquireNow(_ runID: String) -> Admission {
        if stopped { return .full(retryAfterMs: retryAfterMs) }
        if let connection {
            let own = state.withLock { s in s.held.filter { $0.pod == pod } }
            var args = [keyPrefix, pod, String(slotCount), String(ttlMs), runID]
            for lease in own { args += [String(lease.slot), lease.runID] }
            do {
                let reply = try connection.eval(RegistryScripts.acquire, args)
                guard let items = reply.array, items.count >= 2, let granted = items[0].integer, let live = items[1].integer else {
                    throw RedisFailure("redis at \(url) answered the acquire script with \(reply)")
                }
                guard granted == 1 else {
                    state.withLock { $0.livePods = live }
                    return .full(retryAfterMs: retryAfterMs)
                }
                guard items.count >= 4, let target = items[2].string, let slot = items[3].integer else {
                    throw RedisFailure("redis at \(url) answered the acquire script with \(reply)")
                }
                let lease = SlotLease(runID: runID, slot: slot, pod: target)
                if target == pod, own.count >= slotCount || own.contains(where: { $0.slot == slot }) {
                    // Cannot happen (this pod's leases were re-asserted in the same script); never over-admit.
                    _ = try? connection.eval(RegistryScripts.release, [keyPrefix, pod, lease.pod, String(slot), runID])
                    logger.error("redis registry: refused a slot this pod already holds", ["slot": JSON(slot), "pod": .string(pod)])
                    return .full(retryAfterMs: retryAfterMs)
                }
                state.withLock {
                    $0.held.append(lease)
                    $0.livePods = live
                }
                return .granted(lease)
            } catch {
                lostRedis(error)
            }
        }
        return acquireLocally(runID)
    }

    /// Redis is unreachable: a slot of this pod's own, counting every lease on it this registry holds.
    private func acquireLocally(_ runID: String) -> Admission {
        state.withLock { s in
            let taken = Set(s.held.filter { $0.pod == pod }.map(\.slot))
            guard taken.count < slotCount, let free = (0..<slotCount).first(where: { !taken.contains($0) }) else {
                return .full(retryAfterMs: retryAfterMs)
            }
            let lease = SlotLease(runID: runID, slot: free, pod: pod)
            s.held.append(lease)
            return .granted(lease)
        }
    }

    private func releaseNow(_ lease: SlotLease) {
        state.withLock { $0.held.removeAll { $0 == lease } }
        if stopped { return }
        if let connection {
            do {
                _ = try connection.eval(RegistryScripts.release, [keyPrefix, pod, lease.pod, String(lease.slot), lease.runID])
                return
            } catch {
                lostRedis(error)
            }
        }
        if !pendingReleases.contains(lease) {
            pendingReleases.append(lease)
            if pendingReleases.count > 4096 { pendingReleases.removeFirst(pendingReleases.count - 4096) }
        }
    }

    private func adoptNow(_ lease: SlotLease) -> Bool {
        guard !stopped, lease.pod == pod, (0..<slotCount).contains(lease.slot) else { return false }
        let (already, own) = state.withLock { s in (s.held.contains(lease), s.held.filter { $0.pod == pod }) }
        if already { return true }
        guard let connection else { return false }
        guard own.count < slotCount, !own.contains(where: { $0.slot == lease.slot }) else { return false }
        do {
            let reply = try connection.eval(RegistryScripts.adopt, [keyPrefix, pod, String(lease.slot), lease.runID, String(ttlMs)])
            guard reply.integer == 1 else { return false }
            state.withLock { $0.held.append(lease) }
            return true
        } catch {
            lostRedis(error)
            return false
        }
    }

    private func lookUpPeer(_ peer: String) -> String? {
        guard let connection else { return nil }
        do {
            let reply = try connection.command(["HGET", keyPrefix + "pod:" + peer, "url"])
            if case .error(let why) = reply { throw RedisFailure("redis at \(url): \(why)") }
            guard let found = reply.string, !found.isEmpty else { return nil }
            state.withLock { $0.peers[peer] = found }
            return found
        } catch {
            lostRedis(error)
            return nil
        }
    }

    // MARK: Maintenance (on the queue)

    private func maintenanceRound(generation round: Int) {
        guard !stopped, round == generation else { return }
        let delay = maintain(force: false)
        schedule(afterMs: delay)
    }

    private func schedule(afterMs ms: Int) {
        let round = generation
        queue.asyncAfter(deadline: .now() + .milliseconds(max(1, ms))) { [weak self] in
            self?.maintenanceRound(generation: round)
        }
    }

    /// Replaces the scheduled round with one `ms` from now.
    private func restartMaintenance(afterMs ms: Int) {
        guard !stopped else { return }
        generation += 1
        schedule(afterMs: ms)
    }

    /// The heartbeat when connected, else a reconnect attempt once the backoff has passed (or when
    /// forced). Returns the milliseconds until the next round.
    private func maintain(force: Bool) -> Int {
        if let connection {
            do {
                try heartbeat(connection, recovering: false)
                return ttlMs / 3
            } catch {
                dropConnection(error)
                // A forced round tries a fresh connection at once (a restarted Redis breaks the old one).
                guard force else { return backoffMs }
            }
        }
        let now = ContinuousClock.now
        if !force, now < nextAttempt { return max(1, (nextAttempt - now).milliseconds) }
        reconnect()
        return connection == nil ? backoffMs : ttlMs / 3
    }

    private func reconnect() {
        let wasDown = state.withLock { $0.mode != .shared }
        do {
            let fresh = try RedisConnection.open(url, options: options)
            connection = fresh
            for lease in pendingReleases {
                _ = try fresh.eval(RegistryScripts.release, [keyPrefix, pod, lease.pod, String(lease.slot), lease.runID])
            }
            pendingReleases = []
            try heartbeat(fresh, recovering: true)
            backoffMs = max(1, options.initialBackoff.milliseconds)
            if wasDown {
                logger.info("redis registry: connected; this pod's slots are shared again", ["url": .string("\(url)"), "pod": .string(pod)])
            }
        } catch {
            connection = nil
            let failure = "\(error)"
            backoffMs = min(max(1, options.maxBackoff.milliseconds), backoffMs * 2)
            let wait = jittered(backoffMs)
            nextAttempt = .now + .milliseconds(wait)
            let changed = state.withLock { s in
                let first = s.mode == .shared || !s.detail.contains(failure)
                s.mode = .degraded
                s.detail = degradedDetail(failure)
                return first
            }
            if changed {
                logger.warning("redis registry: redis unreachable; serving this pod's slots only", ["url": .string("\(url)"), "error": .string(failure)])
            } else {
                logger.debug("redis registry: reconnect failed", ["error": .string(failure), "next_attempt_ms": JSON(wait)])
            }
        }
    }

    /// Registers the pod, renews (or re-creates) every lease held and refreshes the peer list.
    private func heartbeat(_ connection: RedisConnection, recovering: Bool) throws(RedisFailure) {
        let held = state.withLock { $0.held }
        var args = [keyPrefix, pod, String(slotCount), advertiseURL, String(ttlMs)]
        for lease in held { args += [lease.pod, String(lease.slot), lease.runID] }
        let reply = try connection.eval(RegistryScripts.heartbeat, args)
        guard let parts = reply.array, parts.count == 2, let statuses = parts[0].array, let flat = parts[1].array,
            statuses.count == held.count
        else { throw RedisFailure("redis at \(url) answered the heartbeat script with \(reply)") }

        var gone: [SlotLease] = []
        var recreated = 0
        for (lease, status) in zip(held, statuses) {
            switch status.string ?? "" {
            case "moved":
                gone.append(lease)
                logger.debug("redis registry: lease adopted by its pod", ["run_id": .string(lease.runID), "pod": .string(lease.pod)])
            case "lost":
                gone.append(lease)
                logger.warning(
                    "redis registry: a lease on a peer was taken by another run while redis was unreachable; that peer will refuse it",
                    ["run_id": .string(lease.runID), "pod": .string(lease.pod), "slot": JSON(lease.slot)])
            case "recreated", "reclaimed": recreated += 1
            default: break
            }
        }
        var peers: [String: String] = [:]
        var i = 0
        while i + 1 < flat.count {
            if let id = flat[i].string { peers[id] = flat[i + 1].string ?? "" }
            i += 2
        }
        let detail = "shared through redis at \(url) with \(peers.count) live pod\(peers.count == 1 ? "" : "s")"
        state.withLock { s in
            s.held.removeAll { gone.contains($0) }
            s.peers = peers
            s.livePods = max(1, peers.count)
            s.mode = .shared
            s.detail = detail
        }
        if recovering, recreated > 0 {
            logger.info("redis registry: re-created leases after reconnecting", ["count": JSON(recreated), "pod": .string(pod)])
        }
    }

    /// A call failed: drop the connection, serve locally, and reconnect after the initial backoff.
    private func lostRedis(_ error: any Error) {
        dropConnection(error)
        restartMaintenance(afterMs: backoffMs)
    }

    private func dropConnection(_ error: any Error) {
        connection = nil
        backoffMs = max(1, options.initialBackoff.milliseconds)
        nextAttempt = .now + .milliseconds(backoffMs)
        let failure = "\(error)"
        state.withLock {
            $0.mode = .degraded
            $0.detail = degradedDetail(failure)
        }
        logger.warning("redis registry: lost redis; serving this pod's slots only", ["url": .string("\(url)"), "error": .string(failure)])
    }

    private func degradedDetail(_ failure: String) -> String {
        "\(failure); serving this pod's \(slotCount) slot\(slotCount == 1 ? "" : "s") only, reconnecting with backoff"
    }

    private func jittered(_ ms: Int) -> Int {
        let spread = ms / 5
        return spread > 0 ? ms + Int.random(in: -spread...spread) : ms
    }
}
