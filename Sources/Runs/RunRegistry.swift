/// A slot held by one run on one pod.
public struct SlotLease: Sendable, Equatable, Hashable {
    public var runID: String
    public var slot: Int
    public var pod: String

    public init(runID: String, slot: Int, pod: String) {
        self.runID = runID
        self.slot = slot
        self.pod = pod
    }
}

/// The registry's answer to a request for a slot.
public enum Admission: Sendable, Equatable {
    case granted(SlotLease)
    /// Every slot is taken; try again after about this long.
    case full(retryAfterMs: Int)
}

/// Hands out a pool's run slots: never more than the slot count at once, and every slot handed
/// out comes back through `release`.
public protocol RunRegistry: Sendable {
    /// Slots this registry admits at once.
    var slotCount: Int { get }
    /// Takes a free slot for `runID` atomically, or says when to retry.
    func acquire(runID: String) async -> Admission
    /// Returns a slot; releasing a lease that is not held is a no-op, so release can always be called.
    func release(_ lease: SlotLease) async
    /// The leases held now, for status and metrics.
    func leases() async -> [SlotLease]
}

/// The in-process registry: N numbered slots on this pod.
public actor LocalRunRegistry: RunRegistry {
    public nonisolated let slotCount: Int
    public nonisolated let pod: String
    private let retryAfterMs: Int
    private var held: [Int: SlotLease] = [:]

    public init(slots: Int, pod: String, retryAfterMs: Int = 2000) {
        precondition(slots >= 1, "a pool needs at least one slot")
        self.slotCount = slots
        self.pod = pod
        self.retryAfterMs = retryAfterMs
    }

    public func acquire(runID: String) -> Admission {
        guard let free = (0..<slotCount).first(where: { held[$0] == nil }) else { return .full(retryAfterMs: retryAfterMs) }
        let lease = SlotLease(runID: runID, slot: free, pod: pod)
        held[free] = lease
        return .granted(lease)
    }

    public func release(_ lease: SlotLease) {
        if held[lease.slot] == lease { held[lease.slot] = nil }
    }

    public func leases() -> [SlotLease] {
        held.values.sorted { $0.slot < $1.slot }
    }
}

/// How a registry is doing, for `/readyz` detail, `/v1/status` and metrics.
public struct RegistryHealth: Sendable, Equatable {
    public enum Mode: String, Sendable {
        /// In-process slots only (the default).
        case local
        /// Shared through Redis with the other pods.
        case shared
        /// Redis is unreachable: serving from this pod's own slots only, reconnecting with backoff.
        case degraded
    }

    public var mode: Mode
    public var detail: String
    /// Live pods the registry knows of (1 when local).
    public var livePods: Int

    public init(mode: Mode, detail: String, livePods: Int = 1) {
        self.mode = mode
        self.detail = detail
        self.livePods = livePods
    }
}

/// The parts of a registry shared by several pods: who the peers are and how to reach them.
public protocol ClusterRunRegistry: RunRegistry {
    /// This pod's id (leases naming another pod belong to a peer).
    var pod: String { get }
    func health() async -> RegistryHealth
    /// The base URL a peer advertised (`SUPER_AGENT_ADVERTISE_URL`), for forwarding a run to it.
    func peerURL(for pod: String) async -> String?
    /// Takes over a lease a peer acquired on this pod's behalf; false when it is not (or no longer) held.
    func adopt(_ lease: SlotLease) async -> Bool
}
