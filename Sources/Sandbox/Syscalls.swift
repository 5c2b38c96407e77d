#if canImport(Glibc)
import Glibc
#endif
import CSystem

/// O_PATH (glibc only declares it under _GNU_SOURCE, which Swift's Glibc module lacks).
let O_PATH: Int32 = SA_O_PATH

/// A failed syscall's errno, as a value.
struct Errno: Error, Equatable, CustomStringConvertible {
    var code: Int32

    static var current: Errno { Errno(code: errno) }

    var description: String { String(cString: strerror(code)) }
}

/// The thin syscall layer: every raw call the module makes goes through here. Each wrapper
/// retries EINTR and turns -1 into a thrown `Errno`, so the rest of the module never reads `errno`.
enum Sys {
    /// Retries `body` while it fails with EINTR; -1 becomes the thrown errno.
    @inline(__always)
    static func retrying<T: BinaryInteger>(_ body: () -> T) throws(Errno) -> T {
        while true {
            let result = body()
            if result != -1 { return result }
            let code = errno
            if code != EINTR { throw Errno(code: code) }
        }
    }

    // MARK: descriptors

    static func open(_ path: String, _ flags: Int32, _ mode: mode_t = 0) throws(Errno) -> Int32 {
        try retrying { Glibc.open(path, flags | O_CLOEXEC, mode) }
    }

    static func openat(_ dirfd: Int32, _ path: String, _ flags: Int32, _ mode: mode_t = 0) throws(Errno) -> Int32 {
        try retrying { Glibc.openat(dirfd, path, flags | O_CLOEXEC, mode) }
    }

    /// openat2 with RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS. EAGAIN (a concurrent rename seen
    /// during a `..` lookup) is retried a few times, as the man page advises.
    static func openat2Beneath(_ dirfd: Int32, _ path: String, _ flags: Int32) throws(Errno) -> Int32 {
        var attempts = 0
        while true {
            do throws(Errno) {
                return try retrying { sa_openat2_beneath(dirfd, path, flags) }
            } catch where error.code == EAGAIN && attempts < 16 {
                attempts += 1
            }
        }
    }

    static func close(_ fd: Int32) {
        // Never retry close on Linux: the descriptor is released even when EINTR is reported.
        _ = Glibc.close(fd)
    }

    static func dup(_ fd: Int32) throws(Errno) -> Int32 {
        try retrying { fcntl(fd, F_DUPFD_CLOEXEC, 0) }
    }

    static func setNonBlocking(_ fd: Int32) throws(Errno) {
        let flags = try retrying { fcntl(fd, F_GETFL) }
        _ = try retrying { fcntl(fd, F_SETFL, flags | O_NONBLOCK) }
    }

    static func pipe() throws(Errno) -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        _ = try retrying { sa_pipe_cloexec(&fds) }
        return (fds[0], fds[1])
    }

    static func eventfd() throws(Errno) -> Int32 {
        try retrying { sa_eventfd() }
    }

    static func read(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        try retrying { Glibc.read(fd, buffer.baseAddress, buffer.count) }
    }

    static func write(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) throws(Errno) -> Int {
        try retrying { Glibc.write(fd, buffer.baseAddress, buffer.count) }
    }

    static func write(_ fd: Int32, _ bytes: ArraySlice<UInt8>) throws(Errno) -> Int {
        try retrying { bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } }
    }

    static func read(_ fd: Int32, into bytes: inout [UInt8]) throws(Errno) -> Int {
        try retrying { bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) } }
    }

    static func poll(_ fds: inout [pollfd], timeoutMs: Int32) throws(Errno) -> Int32 {
        let count = nfds_t(fds.count)
        return try retrying { fds.withUnsafeMutableBufferPointer { Glibc.poll($0.baseAddress, count, timeoutMs) } }
    }

    // MARK: metadata

    static func fstat(_ fd: Int32) throws(Errno) -> stat {
        var st = stat()
        _ = try retrying { Glibc.fstat(fd, &st) }
        return st
    }

    static func fstatat(_ dirfd: Int32, _ path: String, _ flags: Int32) throws(Errno) -> stat {
        var st = stat()
        _ = try retrying { Glibc.fstatat(dirfd, path, &st, flags) }
        return st
    }

    static func readlinkat(_ dirfd: Int32, _ path: String) throws(Errno) -> String {
        var size = 256
        while true {
            var buffer = [CChar](repeating: 0, count: size)
            let n = try retrying { Glibc.readlinkat(dirfd, path, &buffer, size) }
            if n < size {
                return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            }
            if size >= 1 << 16 { throw Errno(code: ENAMETOOLONG) }
            size *= 4
        }
    }

    static func realpath(_ path: String) throws(Errno) -> String {
        guard let resolved = Glibc.realpath(path, nil) else { throw Errno.current }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// The path the kernel holds for an open descriptor (through /proc/self/fd).
    static func pathOf(_ fd: Int32) throws(Errno) -> String {
        try readlinkat(AT_FDCWD, "/proc/self/fd/\(fd)")
    }

    // MARK: directories

    static func mkdirat(_ dirfd: Int32, _ name: String, _ mode: mode_t) throws(Errno) {
        _ = try retrying { Glibc.mkdirat(dirfd, name, mode) }
    }

    static func mkdir(_ path: String, _ mode: mode_t) throws(Errno) {
        _ = try retrying { Glibc.mkdir(path, mode) }
    }

    static func unlinkat(_ dirfd: Int32, _ name: String, _ flags: Int32) throws(Errno) {
        _ = try retrying { Glibc.unlinkat(dirfd, name, flags) }
    }

    static func renameat(_ fromfd: Int32, _ from: String, _ tofd: Int32, _ to: String) throws(Errno) {
        _ = try retrying { Glibc.renameat(fromfd, from, tofd, to) }
    }

    static func fchmod(_ fd: Int32, _ mode: mode_t) throws(Errno) {
        _ = try retrying { Glibc.fchmod(fd, mode) }
    }

    static func chmod(_ path: String, _ mode: mode_t) throws(Errno) {
        _ = try retrying { Glibc.chmod(path, mode) }
    }

    /// Names in the directory open at `fd` (without `.` and `..`); `fd` itself stays open.
    static func directoryEntries(_ fd: Int32) throws(Errno) -> [String] {
        let own = try dup(fd)
        guard let dir = fdopendir(own) else {
            let error = Errno.current
            close(own)
            throw error
        }
        defer { closedir(dir) }
        rewinddir(dir)
        var names: [String] = []
        while true {
            errno = 0
            guard let entry = readdir(dir) else {
                if errno != 0 { throw Errno.current }
                return names
            }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
    }

    // MARK: processes

    static func kill(_ pid: pid_t, _ signal: Int32) throws(Errno) {
        _ = try retrying { Glibc.kill(pid, signal) }
    }

    /// Whether `pid` has exited, without reaping it.
    static func hasExited(_ pid: pid_t) throws(Errno) -> Bool {
        var info = siginfo_t()
        _ = try retrying { waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) }
        return info._sifields._sigchld.si_pid == pid
    }

    /// Reaps `pid`, blocking until it has exited; returns the raw wait status.
    static func reap(_ pid: pid_t) throws(Errno) -> Int32 {
        var status: Int32 = 0
        _ = try retrying { waitpid(pid, &status, 0) }
        return status
    }

    static func monotonicNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    static func sleep(milliseconds: Int) {
        var request = timespec(tv_sec: milliseconds / 1000, tv_nsec: (milliseconds % 1000) * 1_000_000)
        var remaining = timespec()
        while nanosleep(&request, &remaining) == -1 && errno == EINTR { request = remaining }
    }
}
