#if canImport(Glibc)
import Glibc
#endif

/// Signalling and waiting on a run's process group (its id is the leader's pid).
enum ProcessGroup {
    static func signal(_ pgid: pid_t, _ signal: Int32) {
        guard pgid > 1 else { return }  // never kill(0) or kill(-1)
        try? Sys.kill(-pgid, signal)
    }

    /// SIGKILLs the group until no live member is left, for at most `timeoutMs`. Zombies count as
    /// gone: once the leader is reaped its orphans belong to init, whose reaping we cannot force.
    /// Returns whether the group emptied in time.
    @discardableResult
    static func killAndAwaitEmpty(_ pgid: pid_t, timeoutMs: Int) -> Bool {
        guard pgid > 1 else { return true }
        let deadline = Sys.monotonicNanoseconds() + UInt64(timeoutMs) * 1_000_000
        var pause = 1
        while true {
            do throws(Errno) {
                try Sys.kill(-pgid, SIGKILL)
            } catch {
                return true  // ESRCH: no member at all
            }
            if liveMembers(of: pgid) == 0 { return true }
            if Sys.monotonicNanoseconds() >= deadline { return false }
            Sys.sleep(milliseconds: pause)
            pause = min(pause * 2, 20)
        }
    }

    /// Members of the group that are not zombies, from /proc (0 when /proc is unreadable and the
    /// group could not be signalled).
    static func liveMembers(of pgid: pid_t) -> Int {
        guard let proc = try? Sys.open("/proc", O_RDONLY | O_DIRECTORY) else { return 0 }
        defer { Sys.close(proc) }
        guard let names = try? Sys.directoryEntries(proc) else { return 0 }
        var live = 0
        for name in names where name.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) {
            guard let (state, group) = stat(of: name, in: proc), group == pgid else { continue }
            if state != UInt8(ascii: "Z") && state != UInt8(ascii: "X") { live += 1 }
        }
        return live
    }

    /// The state letter and process group of /proc/<pid>/stat.
    static func stat(of pid: String, in proc: Int32) -> (state: UInt8, pgid: pid_t)? {
        guard let fd = try? Sys.openat(proc, pid + "/stat", O_RDONLY) else { return nil }
        defer { Sys.close(fd) }
        var buffer = [UInt8](repeating: 0, count: 1024)
        guard let n = try? Sys.read(fd, into: &buffer), n > 0
        else { return nil }
        // "pid (comm) state ppid pgrp ..."; comm may contain spaces and parentheses.
        guard let close = buffer[0..<n].lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let fields = buffer[(close + 1)..<n].split(separator: UInt8(ascii: " "))
        guard fields.count >= 3, let state = fields[fields.startIndex].first,
            let group = pid_t(String(decoding: fields[fields.startIndex + 2], as: UTF8.self))
        else { return nil }
        return (state, group)
    }
}
