#if canImport(Glibc)
import Glibc
#endif
import Runs
@testable import Sandbox

/// A private directory under /tmp for one test, removed by `remove()` (descriptor-relative,
/// never following symlinks, so links to outside created by a test are safe).
final class TempDir: Sendable {
    let path: String

    init(_ label: String = "t") {
        var template = Array("/tmp/sandbox-tests-\(label)-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed")
        let raw = String(cString: made!)
        path = (try? Sys.realpath(raw)) ?? raw
    }

    func sub(_ name: String) -> String { path + "/" + name }

    func remove() {
        let parent = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { close(parent) }
        let name = String(path.split(separator: "/").last!)
        TreeRemover.removeTree(named: name, in: parent)
    }
}

@discardableResult
func makeDir(_ path: String, mode: mode_t = 0o755) -> Bool { mkdir(path, mode) == 0 }

@discardableResult
func makeLink(_ target: String, at path: String) -> Bool { symlink(target, path) == 0 }

@discardableResult
func writeFile(_ path: String, _ bytes: [UInt8]) -> Bool {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    return bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } == bytes.count
}

@discardableResult
func writeFile(_ path: String, _ text: String) -> Bool { writeFile(path, Array(text.utf8)) }

func readFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n <= 0 { break }
        out += buffer[0..<n]
    }
    return String(decoding: out, as: UTF8.self)
}

/// lstat-based existence: true for a dangling symlink too.
func entryExists(_ path: String) -> Bool {
    var st = stat()
    return lstat(path, &st) == 0
}

func modeOf(_ fd: Int32) -> mode_t {
    var st = stat()
    _ = fstat(fd, &st)
    return st.st_mode & 0o7777
}

/// Gone, or a zombie nobody reaps (PID 1 in some VMs never does): either way it runs no more.
func processIsGone(_ pid: pid_t) -> Bool {
    if kill(pid, 0) == -1 && errno == ESRCH { return true }
    guard let stat = readFile("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { return true }
    let state = stat[stat.index(close, offsetBy: 2)]
    return state == "Z" || state == "X"
}

func monotonicMs() -> Int { Int(Sys.monotonicNanoseconds() / 1_000_000) }

/// A workspace on `dir`, opened through a provider whose only root is `dir`.
func callerWorkspace(_ dir: String) throws -> Workspace {
    let provider = FileWorkspaceProvider(roots: [dir], scratchDirectory: dir + "/.scratch")
    return try provider.openCaller(dir)
}

/// Runs an inline /bin/sh script as the child.
func runShell(
    _ script: String, in workspace: Workspace, launcher: PosixProcessLauncher = PosixProcessLauncher(confinement: .none),
    stdin: [UInt8] = [], environment: [String: String] = ["PATH": "/usr/bin:/bin"], timeout: Duration = .seconds(10),
    killGrace: Duration = .milliseconds(300), outputCap: Int = 1 << 20
) async -> ProcessOutcome {
    let spec = LaunchSpec(
        executable: "/bin/sh", arguments: ["sh", "-c", script], environment: environment, stdin: stdin,
        directory: workspace, timeout: timeout, killGrace: killGrace, outputCap: outputCap)
    return await launcher.run(spec)
}

extension ProcessOutcome {
    var out: String { String(decoding: stdout.bytes, as: UTF8.self) }
    var err: String { String(decoding: stderr.bytes, as: UTF8.self) }
}

// glibc exports capget/capset without declaring them in a header Swift sees.
@_silgen_name("capget") private func c_capget(_ header: UnsafeMutableRawPointer, _ data: UnsafeMutableRawPointer) -> Int32
@_silgen_name("capset") private func c_capset(_ header: UnsafeMutableRawPointer, _ data: UnsafeMutableRawPointer) -> Int32

/// Runs `body` on the current thread without CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH and CAP_FOWNER
/// in the effective set (capabilities are per thread), so a test running as root still meets
/// permission bits; restores them afterwards. `body` must not suspend.
func withoutPermissionBypass<T>(_ body: () -> T) -> T {
    var header: (UInt32, Int32) = (0x2008_0522, 0)  // _LINUX_CAPABILITY_VERSION_3, this thread
    var saved = [UInt32](repeating: 0, count: 6)  // 2 x {effective, permitted, inheritable}
    let got = withUnsafeMutableBytes(of: &header) { h in saved.withUnsafeMutableBytes { c_capget(h.baseAddress!, $0.baseAddress!) } }
    guard got == 0 else { return body() }
    var reduced = saved
    reduced[0] &= ~UInt32((1 << 1) | (1 << 2) | (1 << 3))
    _ = withUnsafeMutableBytes(of: &header) { h in reduced.withUnsafeMutableBytes { c_capset(h.baseAddress!, $0.baseAddress!) } }
    defer {
        _ = withUnsafeMutableBytes(of: &header) { h in saved.withUnsafeMutableBytes { c_capset(h.baseAddress!, $0.baseAddress!) } }
    }
    return body()
}

/// Whether the current thread can bypass permission bits (true for root with CAP_DAC_OVERRIDE).
/// (`access` would not do: for root it checks the permitted set, not the effective one.)
func canBypassPermissions(_ probeDir: String) -> Bool {
    let fd = open(probeDir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if fd >= 0 { close(fd) }
    return fd >= 0
}
