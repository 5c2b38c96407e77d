#if canImport(Glibc)
import Glibc
#endif
import CSystem
import Runs

/// Resource limits lowered in the child before exec (never raised above the current hard limit).
public struct ResourceLimits: Sendable, Equatable {
    /// RLIMIT_CORE; 0 means no core dumps (the default).
    public var coreFileBytes: UInt64?
    /// RLIMIT_FSIZE: the largest file the child may write.
    public var fileSizeBytes: UInt64?
    /// RLIMIT_NOFILE.
    public var openFiles: UInt64?
    /// RLIMIT_AS.
    public var addressSpaceBytes: UInt64?
    /// RLIMIT_CPU.
    public var cpuSeconds: UInt64?

    public init(
        coreFileBytes: UInt64? = 0, fileSizeBytes: UInt64? = nil, openFiles: UInt64? = nil,
        addressSpaceBytes: UInt64? = nil, cpuSeconds: UInt64? = nil
    ) {
        self.coreFileBytes = coreFileBytes
        self.fileSizeBytes = fileSizeBytes
        self.openFiles = openFiles
        self.addressSpaceBytes = addressSpaceBytes
        self.cpuSeconds = cpuSeconds
    }

    var entries: [sa_rlimit] {
        let pairs: [(__rlimit_resource, UInt64?)] = [
            (RLIMIT_CORE, coreFileBytes), (RLIMIT_FSIZE, fileSizeBytes), (RLIMIT_NOFILE, openFiles),
            (RLIMIT_AS, addressSpaceBytes), (RLIMIT_CPU, cpuSeconds),
        ]
        return pairs.compactMap { resource, value in
            value.map { sa_rlimit(resource: Int32(resource.rawValue), limit: $0) }
        }
    }
}

/// Runs a child with fork/exec (`sa_spawn`): its own process group, the workspace descriptor as
/// its working directory, exactly the given environment, write confinement, stdin fed and
/// stdout/stderr captured up to a cap, a timeout and cancellation that kill the whole group.
///
/// All blocking (poll, read, write, waitpid) happens on a dedicated thread per run, never on
/// Swift's cooperative pool. The call returns only after the leader is reaped and no live member
/// of its process group is left (bounded wait; processes that left the group with setsid escape).
public struct PosixProcessLauncher: ProcessLauncher {
    public var confinement: Confinement
    /// Extra paths a Landlock-confined child may write beneath (e.g. a tool's cache directory).
    public var writablePaths: [String]
    public var limits: ResourceLimits

    public init(confinement: Confinement = .auto, writablePaths: [String] = [], limits: ResourceLimits = .init()) {
        self.confinement = confinement
        self.writablePaths = writablePaths
        self.limits = limits
    }

    /// The kernel's Landlock ABI version, or nil when Landlock is unavailable.
    public static var landlockABI: Int? { Landlock.abi.map(Int.init) }

    public func run(_ spec: LaunchSpec) async -> ProcessOutcome {
        let control = RunControl()
        let run = ChildRun(spec: spec, launcher: self, control: control)
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<ProcessOutcome, Never>) in
                let started = BlockingThread.start {
                    continuation.resume(returning: run.execute())
                }
                if !started {
                    continuation.resume(returning: ProcessOutcome(exit: .spawnFailed("cannot start the I/O thread")))
                }
            }
        } onCancel: {
            control.cancel()
        }
    }
}
