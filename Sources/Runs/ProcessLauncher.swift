/// What to start for a run, fully resolved: no PATH lookup, no shell, no inherited environment.
public struct LaunchSpec: Sendable {
    /// Absolute path of the program (resolved through PATH by the caller).
    public var executable: String
    /// argv, including argv[0].
    public var arguments: [String]
    /// The complete environment the child gets (already reduced to the allow-list).
    public var environment: [String: String]
    /// Bytes written to the child's stdin, which is then closed.
    public var stdin: [UInt8]
    /// The directory the child starts in, held open since it was checked.
    public var directory: Workspace
    /// Wall-clock limit; then SIGTERM to the process group, then SIGKILL after `killGrace`.
    public var timeout: Duration
    public var killGrace: Duration
    /// Most bytes kept of stdout and of stderr each; the rest is counted and dropped.
    public var outputCap: Int

    public init(
        executable: String, arguments: [String], environment: [String: String], stdin: [UInt8], directory: Workspace,
        timeout: Duration, killGrace: Duration = .seconds(5), outputCap: Int = 1 << 20
    ) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.stdin = stdin
        self.directory = directory
        self.timeout = timeout
        self.killGrace = killGrace
        self.outputCap = outputCap
    }
}

/// How a child process ended.
public enum ProcessExit: Sendable, Equatable {
    case exited(Int32)
    case signaled(Int32)
    /// Killed by the runner because `timeout` passed.
    case timedOut
    /// Killed by the runner because the awaiting task was cancelled.
    case cancelled
    /// Never started (program missing, not executable, out of resources).
    case spawnFailed(String)
}

/// Captured output of one stream, with what was dropped past the cap.
public struct CapturedOutput: Sendable, Equatable {
    public var bytes: [UInt8]
    /// Bytes dropped past the cap (0 when nothing was).
    public var droppedBytes: Int

    public init(bytes: [UInt8] = [], droppedBytes: Int = 0) {
        self.bytes = bytes
        self.droppedBytes = droppedBytes
    }

    /// The text, with a visible marker when output was truncated.
    public var text: String {
        let s = String(decoding: bytes, as: UTF8.self)
        return droppedBytes == 0 ? s : s + "\n[super-agent: output truncated, \(droppedBytes) more bytes dropped]"
    }
}

/// Everything the runner learned from one child.
public struct ProcessOutcome: Sendable, Equatable {
    public var exit: ProcessExit
    public var stdout: CapturedOutput
    public var stderr: CapturedOutput
    public var durationMs: Int
    /// How writes were confined: `landlock`, `bubblewrap` or `none`.
    public var confinement: String

    public init(exit: ProcessExit, stdout: CapturedOutput = .init(), stderr: CapturedOutput = .init(), durationMs: Int = 0, confinement: String = "none") {
        self.exit = exit
        self.stdout = stdout
        self.stderr = stderr
        self.durationMs = durationMs
        self.confinement = confinement
    }
}

/// Starts a child, feeds it, captures it, and always reaps it and its whole process group.
///
/// Cancelling the awaiting task kills the process group (SIGTERM, then SIGKILL after the grace
/// period) and returns `.cancelled`; the call never returns while a child of the run is alive.
public protocol ProcessLauncher: Sendable {
    func run(_ spec: LaunchSpec) async -> ProcessOutcome
}

/// Resolves a program name to an absolute path through a PATH string, as execvp would.
public protocol ProgramResolver: Sendable {
    func resolve(_ name: String, path: String) -> String?
}
