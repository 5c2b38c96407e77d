import Delegation
import Testing
import TestSupport

@testable import SQLiteStores

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

func fileExists(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0
}

func report(_ id: String, active: Int = 0, max: Int = 3, at: Double = 1000) -> CapacityReport {
    CapacityReport(agentID: id, activeTasks: active, maxTasks: max, reportedAt: at)
}

@Suite("SQLiteCapacityStore")
struct SQLiteCapacityStoreTests {
    @Test func putThenReadBack() async throws {
        let dir = try TempDir(label: "sqlite-test")
        defer { dir.remove() }
        let store = SQLiteCapacityStore(path: dir.file("capacity.sqlite3"))
        let r = report("cto", active: 2, max: 5, at: 1234.5)
        try await store.put(r)
        #expect(try await store.reports(since: 0) == [r])
        #expect(fileExists(dir.file("capacity.sqlite3")))
    }

    @Test func putReplacesTheAgentsPreviousReport() async throws {
        let dir = try TempDir(label: "sqlite-test")
        defer { dir.remove() }
        let store = SQLiteCapacityStore(path: dir.file("capacity.sqlite3"))
        try await store.put(report("cto", active: 1, max: 3, at: 100))
        try await store.put(report("cto", active: 3, max: 4, at: 200))
        #expect(try await store.reports(since: 0) == [report("cto", active: 3, max: 4, at: 200)])
    }

    @Test func readSinceIsInclusiveAndSortedByAgentID() async throws {
        let dir = try TempDir(label: "sqlite-test")
        defer { dir.remove() }
        let store = SQLiteCapacityStore(path: dir.file("capacity.sqlite3"))
        try await store.put(report("zeta", at: 300))
        try await store.put(report("alpha", at: 200))
        try await store.put(report("mid", at: 100))
        #expect(try await store.reports(since: 200).map(\.agentID) == ["alpha", "zeta"])
        #expect(try await store.reports(since: 0).map(\.agentID) == ["alpha", "mid", "zeta"])
        #expect(try await store.reports(since: 300.000001).isEmpty)
    }

    @Test func fractionalTimestampsSurviveExactly() async throws {
        let dir = try TempDir(label: "sqlite-test")
        defer { dir.remove() }
        let store = SQLiteCapacityStore(path: dir.file("capacity.sqlite3"))
        let at = 1_733_300_000.123456
        try await store.put(report("cto", at: at))
        #expect(try await store.reports(since: at).first?.reportedAt == at)
    }

    @Test func emptyDatabaseHasNoReports() async throws {
        let dir = try TempDir(label: "sqlite-test")
        defer { dir.remove() }
        let store = SQLiteCapacityStore(path: dir.file("capacity.sqlite3"))
        #expect(try await store.reports(since: 0).isEmpty)
    }

    @Test func missingParentDirectoriesAreCreatedPrivate() async throws {
        let dir = try TempDir(label: "sqlite-test")
        defer { dir.remove() }
        let path = dir.file("state/nested/capacity.sqlite3")
        let store = SQLiteCapacityStore(path: path)
        try await store.put(report("cto"))
        #expect(fileExists(path))
        var st = stat()
        #expect(stat(dir.file("state/nested"), &st) == 0)
        #expect(st.st_mode & 0o777 == 0o700)
    }

    @Test func twoStoresOnTheSameFileSeeEachOthersReports() async throws {
        let dir = try TempDir(label: "sqlite-test")
        defer { dir.remove() }
        let path = dir.file("shared.sqlite3")
        let first = SQLiteCapacityStore(path: path)
        let second = SQLiteCapacityStore(path: path)
        try await first.put(report("cto", active: 1, at: 100))
        #expect(try await second.reports(since: 0) == [report("cto", active: 1, at: 100)])
        try await second.put(report("cfo", active: 2, at: 110))
        try await second.put(report("cto", active: 3, at: 120))  // replaces first's report
        #expect(try await first.reports(since: 0) == [report("cfo", active: 2, at: 110), report("cto", active: 3, at: 120)])
    }

    @Test func parentThatCannotBeCreatedGivesUnavailableNamingThePath() async throws {
        let dir = try TempDir(label: "sqlite-test")
        defer { dir.remove() }
        let blocker = dir.file("regular-file")
        let fd = open(blocker, O_CREAT | O_WRONLY, 0o600)
        try #require(fd >= 0)
        close(fd)
        let path = blocker + "/sub/capacity.sqlite3"
        let store = SQLiteCapacityStore(path: path)

        let putError = await #expect(throws: CapacityStoreError.self) { try await store.put(report("cto")) }
        guard case .unavailable(let message) = putError else {
            Issue.record("expected .unavailable, got \(String(describing: putError))")
            return
        }
        #expect(message.contains(path))
        #expect(putError?.description.contains("capacity store unavailable") == true)

        // Reading fails the same way, and a failed open does not poison later calls with a crash.
        let readError = await #expect(throws: CapacityStoreError.self) { try await store.reports(since: 0) }
        if case .unavailable(let readMessage) = readError { #expect(readMessage.contains(path)) }
    }

    @Test func fileInsideARegularFileGivesUnavailable() async throws {
        let dir = try TempDir(label: "sqlite-test")
        defer { dir.remove() }
        let blocker = dir.file("plain")
        let fd = open(blocker, O_CREAT | O_WRONLY, 0o600)
        try #require(fd >= 0)
        close(fd)
        let path = blocker + "/capacity.sqlite3"
        let error = await #expect(throws: CapacityStoreError.self) {
            try await SQLiteCapacityStore(path: path).reports(since: 0)
        }
        if case .unavailable(let message) = error { #expect(message.contains(path)) }
    }

    @Test func storeRecoversOnceTheDirectoryBecomesUsable() async throws {
        let dir = try TempDir(label: "sqlite-test")
        defer { dir.remove() }
        let blocker = dir.file("later")
        let fd = open(blocker, O_CREAT | O_WRONLY, 0o600)
        try #require(fd >= 0)
        close(fd)
        let store = SQLiteCapacityStore(path: blocker + "/capacity.sqlite3")
        await #expect(throws: CapacityStoreError.self) { try await store.put(report("cto")) }
        unlink(blocker)
        try await store.put(report("cto"))
        #expect(try await store.reports(since: 0).map(\.agentID) == ["cto"])
    }

    @Test func manyConcurrentPutsFromTwoStoresAllLand() async throws {
        let dir = try TempDir(label: "sqlite-test")
        defer { dir.remove() }
        let path = dir.file("busy.sqlite3")
        let stores = [SQLiteCapacityStore(path: path), SQLiteCapacityStore(path: path)]
        let perStore = 150
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (s, store) in stores.enumerated() {
                for i in 0..<perStore {
                    group.addTask {
                        try await store.put(report("agent-\(s)-\(i)", active: i % 4, max: 4, at: Double(1000 + i)))
                    }
                }
            }
            try await group.waitForAll()
        }
        for store in stores {
            let all = try await store.reports(since: 0)
            #expect(all.count == 2 * perStore)
            #expect(Set(all.map(\.agentID)).count == 2 * perStore)
        }
        let one = try await stores[0].reports(since: 0).first { $0.agentID == "agent-1-7" }
        #expect(one == report("agent-1-7", active: 3, max: 4, at: 1007))
    }

    @Test func concurrentUpdatesToOneAgentLeaveOneRow() async throws {
        let dir = try TempDir(label: "sqlite-test")
        defer { dir.remove() }
        let path = dir.file("same-agent.sqlite3")
        let a = SQLiteCapacityStore(path: path)
        let b = SQLiteCapacityStore(path: path)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<100 {
                let store = i.isMultiple(of: 2) ? a : b
                group.addTask { try await store.put(report("cto", active: i % 5, max: 5, at: Double(i))) }
            }
            try await group.waitForAll()
        }
        let rows = try await a.reports(since: 0)
        #expect(rows.count == 1)
        #expect(rows.first?.agentID == "cto")
    }

    @Test func readsStayFastWhileAnotherConnectionHoldsTheWriteLock() async throws {
        let dir = try TempDir(label: "sqlite-test")
        defer { dir.remove() }
        let path = dir.file("locked.sqlite3")
        let store = SQLiteCapacityStore(path: path)
        try await store.put(report("cto", active: 1, at: 100))
        #expect(try await store.reports(since: 0).count == 1)  // first read: opens the read connection

        let other = try SQLiteDatabase(path: path)  // another process's writer, in effect
        try other.execute("BEGIN EXCLUSIVE")
        let clock = ContinuousClock()
        let started = clock.now
        for _ in 0..<20 { #expect(try await store.reports(since: 0) == [report("cto", active: 1, at: 100)]) }
        #expect(clock.now - started < .seconds(1), "WAL readers never wait for the writer")
        try other.execute("ROLLBACK")
    }

    @Test func aWriteThatWaitsForTheLockDoesNotHoldUpReads() async throws {
        let dir = try TempDir(label: "sqlite-test")
        defer { dir.remove() }
        let path = dir.file("slow-write.sqlite3")
        let store = SQLiteCapacityStore(path: path)
        try await store.put(report("cto", active: 1, at: 100))
        _ = try await store.reports(since: 0)

        let other = try SQLiteDatabase(path: path)
        try other.execute("BEGIN EXCLUSIVE")
        let write = Task { try await store.put(report("cto", active: 2, at: 200)) }
        try await Task.sleep(for: .milliseconds(50))  // the write is now in SQLite's busy wait, on the store's queue
        #expect(try await store.reports(since: 0) == [report("cto", active: 1, at: 100)])
        try other.execute("ROLLBACK")
        try await write.value
        #expect(try await store.reports(since: 0) == [report("cto", active: 2, at: 200)], "a committed write is seen by the next read")
    }

    @Test func readsSeeEveryCommittedWriteAtOnce() async throws {
        let dir = try TempDir(label: "sqlite-test")
        defer { dir.remove() }
        let path = dir.file("fresh.sqlite3")
        let reader = SQLiteCapacityStore(path: path)
        let writer = SQLiteCapacityStore(path: path)
        try await writer.put(report("cto", active: 0, at: 1))
        for i in 1...50 {
            try await writer.put(report("cto", active: i, at: Double(i)))
            #expect(try await reader.reports(since: 0).first?.activeTasks == i)
        }
    }

    @Test func storeWorksThroughTheCapacityTracker() async throws {
        let dir = try TempDir(label: "sqlite-test")
        defer { dir.remove() }
        let chart = try OrgChart([Agent(id: "ceo"), Agent(id: "cto", reportsTo: "ceo", maxConcurrent: 4)])
        let path = dir.file("tracker.sqlite3")
        let writer = CapacityTracker(chart: chart, store: SQLiteCapacityStore(path: path), now: { 5000 })
        let reader = CapacityTracker(chart: chart, store: SQLiteCapacityStore(path: path), now: { 5000 })
        _ = try await writer.report(agentID: "cto", activeTasks: 1, maxTasks: nil)
        #expect(try await reader.availability()["cto"] == .reported(Load(active: 1, max: 4)))
        let decision = try await reader.shouldDelegate(agentID: "ceo", priority: .normal, chain: [])
        #expect(decision.delegateTo == "cto")
    }
}

/// Relative paths must resolve against the working directory, like every other file API.
/// `chdir` is process-wide, so this runs alone.
@Suite("SQLiteCapacityStore relative paths", .serialized)
struct SQLiteRelativePathTests {
    @Test func relativePathIsCreatedUnderTheWorkingDirectory() async throws {
        let dir = try TempDir(label: "sqlite-test")
        defer { dir.remove() }
        var saved = [CChar](repeating: 0, count: Int(PATH_MAX))
        try #require(getcwd(&saved, saved.count) != nil)
        let savedPath = String(decoding: saved.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        try #require(chdir(dir.path) == 0)
        defer { _ = chdir(savedPath) }

        // A unique first component, so a wrongly-absolute mkdir cannot collide with anything real;
        // removed from / afterwards in case the store created it there.
        let component = "super-agent-relative-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { TempDir.removeTree("/" + component) }

        let store = SQLiteCapacityStore(path: component + "/sub/capacity.sqlite3")
        let r = report("cto")
        await #expect(throws: Never.self) { try await store.put(r) }
        #expect(fileExists(dir.path + "/" + component + "/sub/capacity.sqlite3"))
        #expect(!fileExists("/" + component))
    }
}
