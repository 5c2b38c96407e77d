import Runs
import Synchronization
import Testing

/// Shared mutable state for concurrent tasks.
final class Box<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
    var value: Value { mutex.withLock { $0 } }
}

@Suite("LocalRunRegistry")
struct RunRegistryTests {
    @Test func sixtyFourConcurrentAcquirersOnThreeSlotsGetExactlyThreeGrants() async {
        let registry = LocalRunRegistry(slots: 3, pod: "p", retryAfterMs: 750)
        let answers = await withTaskGroup(of: Admission.self) { group in
            for i in 0..<64 { group.addTask { await registry.acquire(runID: "r\(i)") } }
            var all: [Admission] = []
            for await a in group { all.append(a) }
            return all
        }
        let granted = answers.compactMap { a -> SlotLease? in
            if case .granted(let l) = a { return l }
            return nil
        }
        let full = answers.filter { $0 == .full(retryAfterMs: 750) }
        #expect(granted.count == 3)
        #expect(full.count == 61)
        #expect(Set(granted.map(\.slot)) == [0, 1, 2], "each grant is a distinct slot")
        #expect(Set(granted.map(\.runID)).count == 3)
        #expect(granted.allSatisfy { $0.pod == "p" })
        #expect(await registry.leases() == granted.sorted { $0.slot < $1.slot })

        // Releasing all of them gives all three slots back.
        for lease in granted { await registry.release(lease) }
        #expect(await registry.leases().isEmpty)
        var again: [Int] = []
        for i in 0..<3 {
            if case .granted(let l) = await registry.acquire(runID: "again\(i)") { again.append(l.slot) }
        }
        #expect(again.sorted() == [0, 1, 2])
        #expect(await registry.acquire(runID: "one-too-many") == .full(retryAfterMs: 750))
    }

    @Test func churnOfManyAcquireReleaseLoopsNeverHoldsMoreThanTheSlotCount() async {
        let registry = LocalRunRegistry(slots: 3, pod: "p")
        let held = Box((now: 0, peak: 0, grants: 0))
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<64 {
                group.addTask {
                    for round in 0..<20 {
                        guard case .granted(let lease) = await registry.acquire(runID: "w\(worker)-\(round)") else { continue }
                        held.withLock { h in
                            h.now += 1
                            h.peak = max(h.peak, h.now)
                            h.grants += 1
                        }
                        await Task.yield()
                        held.withLock { $0.now -= 1 }
                        await registry.release(lease)
                    }
                }
            }
        }
        let final = held.value
        #expect(final.peak <= 3)
        #expect(final.grants >= 3, "some acquirers got through")
        #expect(await registry.leases().isEmpty)
    }

    @Test func releasedSlotIsHandedToTheNextAcquirer() async throws {
        let registry = LocalRunRegistry(slots: 2, pod: "p")
        guard case .granted(let a) = await registry.acquire(runID: "a"), case .granted(let b) = await registry.acquire(runID: "b")
        else { Issue.record("two slots should grant two leases"); return }
        #expect(a.slot == 0 && b.slot == 1)
        #expect(await registry.acquire(runID: "c") == .full(retryAfterMs: 2000), "default retry hint")
        await registry.release(a)
        let c = await registry.acquire(runID: "c")
        #expect(c == .granted(SlotLease(runID: "c", slot: 0, pod: "p")))
    }

    @Test func releasingTwiceOrAStaleLeaseIsANoOp() async {
        let registry = LocalRunRegistry(slots: 1, pod: "p")
        guard case .granted(let first) = await registry.acquire(runID: "first") else {
            Issue.record("first acquire should be granted")
            return
        }
        await registry.release(first)
        await registry.release(first)  // twice: nothing held, nothing happens
        #expect(await registry.leases().isEmpty)

        guard case .granted(let second) = await registry.acquire(runID: "second") else {
            Issue.record("the slot should be free again")
            return
        }
        #expect(second.slot == first.slot)
        // `first` is now stale: same slot, different holder. Releasing it must not free `second`'s slot.
        await registry.release(first)
        await registry.release(SlotLease(runID: "second", slot: 0, pod: "other-pod"))
        await registry.release(SlotLease(runID: "ghost", slot: 7, pod: "p"))
        #expect(await registry.leases() == [second])
        #expect(await registry.acquire(runID: "third") == .full(retryAfterMs: 2000))
    }

    @Test func leasesListsTheHoldersInSlotOrder() async {
        let registry = LocalRunRegistry(slots: 4, pod: "pod-9")
        var leases: [SlotLease] = []
        for id in ["w", "x", "y", "z"] {
            if case .granted(let l) = await registry.acquire(runID: id) { leases.append(l) }
        }
        await registry.release(leases[1])
        #expect(await registry.leases().map(\.runID) == ["w", "y", "z"])
        #expect(await registry.leases().map(\.slot) == [0, 2, 3])
        _ = await registry.acquire(runID: "v")
        #expect(await registry.leases().map(\.runID) == ["w", "v", "y", "z"])
        #expect(await registry.leases().allSatisfy { $0.pod == "pod-9" })
        #expect(registry.slotCount == 4)
    }
}
