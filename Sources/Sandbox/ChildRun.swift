#if canImport(Glibc)
import Glibc
#endif
import CSystem
import Runs

/// One run of one child, executed start to finish on its own thread (`execute()` blocks).
struct ChildRun: Sendable {
    let spec: LaunchSpec
    let launcher: PosixProcessLauncher
    let control: RunControl

    /// How long the group may take to die after SIGKILL before the run gives up waiting.
    static let groupExitWaitMs = 2_000
    /// Bound on draining output after the leader exited (what is left is being written by
    /// processes that are being killed or that escaped the group).
    static let drainAfterExitNs: UInt64 = 100_000_000

    func execute() -> ProcessOutcome {
        let startNs = Sys.monotonicNanoseconds()
        func elapsedMs() -> Int { Int((Sys.monotonicNanoseconds() - startNs) / 1_000_000) }
        func failed(_ message: String, confinement: String = "none") -> ProcessOutcome {
            ProcessOutcome(exit: .spawnFailed(message), durationMs: elapsedMs(), confinement: confinement)
        }

        if control.isCancelled { return ProcessOutcome(exit: .cancelled, durationMs: 0) }
        if let problem = Self.problem(with: spec) { return failed(problem) }

        // Confinement is decided (and its ruleset built) before anything is started.
        var rulesetFD: Int32 = -1
        let confinementName: String
        switch (launcher.confinement, Landlock.abi) {
        case (.none, _), (.auto, nil):
            confinementName = "none"
        case (.landlock, nil):
            return failed("landlock confinement was required but the kernel does not provide it")
        case (.auto, let abi?), (.landlock, let abi?):
            do throws(Errno) {
                rulesetFD = try Landlock.ruleset(abi: abi, workspace: spec.directory.descriptor, writablePaths: launcher.writablePaths)
            } catch {
                return failed("landlock: cannot build the ruleset: \(error)")
            }
            confinementName = "landlock"
        }
        defer { if rulesetFD >= 0 { Sys.close(rulesetFD) } }

        let stdinPipe, stdoutPipe, stderrPipe: (read: Int32, write: Int32)
        let wakeFD: Int32
        do throws(Errno) {
            stdinPipe = try Sys.pipe()
            do throws(Errno) { stdoutPipe = try Sys.pipe() } catch {
                Self.closeAll([stdinPipe.read, stdinPipe.write])
                throw error
            }
            do throws(Errno) { stderrPipe = try Sys.pipe() } catch {
                Self.closeAll([stdinPipe.read, stdinPipe.write, stdoutPipe.read, stdoutPipe.write])
                throw error
            }
            do throws(Errno) { wakeFD = try Sys.eventfd() } catch {
                Self.closeAll([stdinPipe.read, stdinPipe.write, stdoutPipe.read, stdoutPipe.write, stderrPipe.read, stderrPipe.write])
                throw error
            }
        } catch {
            return failed("cannot create pipes: \(error)", confinement: confinementName)
        }
        control.attach(wakeFD)
        defer { control.detach() }

        // Spawn.
        var pid: pid_t = -1
        var stage: Int32 = 0
        var spawnErrno: Int32 = 0
        let rlimits = launcher.limits.entries
        let spawned = Self.withCStrings([spec.executable]) { path in
            Self.withCStrings(spec.arguments) { argv in
                Self.withCStrings(spec.environment.map { "\($0.key)=\($0.value)" }.sorted()) { envp in
                    rlimits.withUnsafeBufferPointer { limits in
                        var request = sa_spawn_request(
                            path: path[0], argv: argv, envp: envp,
                            stdin_fd: stdinPipe.read, stdout_fd: stdoutPipe.write, stderr_fd: stderrPipe.write,
                            cwd_fd: spec.directory.descriptor, landlock_fd: rulesetFD,
                            rlimits: limits.baseAddress, rlimit_count: Int32(limits.count))
                        return sa_spawn(&request, &pid, &stage, &spawnErrno)
                    }
                }
            }
        }
        Self.closeAll([stdinPipe.read, stdoutPipe.write, stderrPipe.write])
        guard spawned == 0 else {
            Self.closeAll([stdinPipe.write, stdoutPipe.read, stderrPipe.read])
            return failed(Self.spawnMessage(stage: stage, errno: spawnErrno, executable: spec.executable), confinement: confinementName)
        }

        var io = IOState(
            stdinFD: stdinPipe.write, stdin: spec.stdin, stdoutFD: stdoutPipe.read, stderrFD: stderrPipe.read,
            cap: max(0, spec.outputCap))
        let pidFD = sa_pidfd_open(pid)  // -1 on kernels before 5.3: then poll with a short timeout
        defer {
            io.closeAll()
            if pidFD >= 0 { Sys.close(pidFD) }
        }

        let reason = supervise(pid: pid, pidFD: pidFD, wakeFD: wakeFD, io: &io, startNs: Sys.monotonicNanoseconds())

        // The leader has exited (still a zombie, so the group id cannot be reused): kill the rest
        // of the group, reap, wait for the group to empty, then keep what is left in the pipes
        // without waiting for an EOF that a process outside the group could withhold.
        ProcessGroup.signal(pid, SIGKILL)
        io.closeStdin()
        let status = (try? Sys.reap(pid)) ?? 0
        ProcessGroup.killAndAwaitEmpty(pid, timeoutMs: Self.groupExitWaitMs)
        io.drain(untilNs: Sys.monotonicNanoseconds() + Self.drainAfterExitNs)

        let exit: ProcessExit
        if let reason {
            exit = reason
        } else if status & 0x7f == 0 {
            exit = .exited((status >> 8) & 0xff)
        } else {
            exit = .signaled(status & 0x7f)
        }
        return ProcessOutcome(
            exit: exit, stdout: io.stdout.output, stderr: io.stderr.output, durationMs: elapsedMs(), confinement: confinementName)
    }

    /// Feeds and drains the child until the leader exits; on timeout or cancellation sends
    /// SIGTERM to the group, then SIGKILL after the grace period. Returns why the runner ended
    /// the run (nil when the child ended by itself).
    private func supervise(pid: pid_t, pidFD: Int32, wakeFD: Int32, io: inout IOState, startNs: UInt64) -> ProcessExit? {
        let deadline = startNs &+ spec.timeout.nanoseconds
        let grace = spec.killGrace.nanoseconds
        var reason: ProcessExit? = nil
        var killAt: UInt64? = nil
        var hardKilled = false

        while true {
            let now = Sys.monotonicNanoseconds()
            if reason == nil && (control.isCancelled || now >= deadline) {
                reason = control.isCancelled ? .cancelled : .timedOut
                ProcessGroup.signal(pid, SIGTERM)
                killAt = now &+ grace
            }
            if let killAt, !hardKilled, now >= killAt {
                ProcessGroup.signal(pid, SIGKILL)
                hardKilled = true
            }
            if (try? Sys.hasExited(pid)) ?? true { return reason }

            var waitNs: UInt64 = .max
            if reason == nil { waitNs = deadline - now }
            if let killAt, !hardKilled { waitNs = min(waitNs, killAt > now ? killAt - now : 0) }
            if pidFD < 0 { waitNs = min(waitNs, 10_000_000) }
            let timeoutMs: Int32 = waitNs == .max ? -1 : Int32(clamping: (waitNs + 999_999) / 1_000_000)

            var fds = [pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)]
            if pidFD >= 0 { fds.append(pollfd(fd: pidFD, events: Int16(POLLIN), revents: 0)) }
            let streams = fds.count
            fds.append(pollfd(fd: io.stdoutFD, events: Int16(POLLIN), revents: 0))  // -1 is ignored by poll
            fds.append(pollfd(fd: io.stderrFD, events: Int16(POLLIN), revents: 0))
            fds.append(pollfd(fd: io.stdinFD, events: Int16(POLLOUT), revents: 0))
            guard (try? Sys.poll(&fds, timeoutMs: timeoutMs)) != nil else {
                Sys.sleep(milliseconds: 1)  // EAGAIN/ENOMEM from poll: back off, then look again
                continue
            }
            if fds[0].revents != 0 {
                var counter: UInt64 = 0
                _ = Glibc.read(wakeFD, &counter, 8)
            }
            if fds[streams].revents != 0 { io.readStdout() }
            if fds[streams + 1].revents != 0 { io.readStderr() }
            if fds[streams + 2].revents != 0 { io.writeStdin(revents: fds[streams + 2].revents) }
        }
    }

    // MARK: helpers

    /// Why the spec cannot be run at all, or nil.
    static func problem(with spec: LaunchSpec) -> String? {
        guard spec.executable.hasPrefix("/") else { return "\(spec.executable): the program path must be absolute" }
        if spec.executable.utf8.contains(0) { return "the program path contains a NUL byte" }
        if spec.arguments.isEmpty { return "\(spec.executable): argv must contain at least argv[0]" }
        if spec.arguments.contains(where: { $0.utf8.contains(0) }) { return "an argument contains a NUL byte" }
        for (key, value) in spec.environment {
            if key.isEmpty || key.utf8.contains(UInt8(ascii: "=")) || key.utf8.contains(0) {
                return "invalid environment variable name \"\(key)\""
            }
            if value.utf8.contains(0) { return "environment variable \(key) contains a NUL byte" }
        }
        return nil
    }

    static func spawnMessage(stage: Int32, errno code: Int32, executable: String) -> String {
        let reason = String(cString: strerror(code))
        switch Int(stage) {
        case Int(SA_STAGE_EXEC): return "\(executable): \(reason)"
        case Int(SA_STAGE_PIPE): return "cannot create the exec-report pipe: \(reason)"
        case Int(SA_STAGE_FORK): return "fork: \(reason)"
        case Int(SA_STAGE_SIGNALS): return "cannot reset signals in the child: \(reason)"
        case Int(SA_STAGE_SETPGID): return "setpgid: \(reason)"
        case Int(SA_STAGE_DUP): return "cannot set up stdin/stdout/stderr: \(reason)"
        case Int(SA_STAGE_FCHDIR): return "cannot enter the workspace: \(reason)"
        case Int(SA_STAGE_RLIMIT): return "setrlimit: \(reason)"
        case Int(SA_STAGE_NO_NEW_PRIVS): return "PR_SET_NO_NEW_PRIVS: \(reason)"
        case Int(SA_STAGE_LANDLOCK): return "landlock_restrict_self: \(reason)"
        case Int(SA_STAGE_CLOSE_FDS): return "cannot close inherited descriptors: \(reason)"
        default: return "\(executable): \(reason)"
        }
    }

    /// A NULL-terminated array of C strings, valid during `body`.
    static func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
        var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
        pointers.append(nil)
        defer { for pointer in pointers { free(pointer) } }
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }

    static func closeAll(_ fds: [Int32]) {
        for fd in fds where fd >= 0 { Sys.close(fd) }
    }
}
