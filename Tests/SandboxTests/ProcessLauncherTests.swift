#if canImport(Glibc)
import Glibc
#endif
import Runs
import Testing
@testable import Sandbox

@Suite("Process launcher")
struct ProcessLauncherTests {
    @Test("exit codes are reported as exited(code)")
    func exitCodes() async throws {
        let dir = TempDir("exit")
        defer { dir.remove() }
        let workspace = try callerWorkspace(dir.path)
        defer { workspace.close() }
        #expect(await runShell("exit 3", in: workspace).exit == .exited(3))
        #expect(await runShell("true", in: workspace).exit == .exited(0))
    }

    @Test("a child killed by a signal is reported as signaled(n)")
    func signaled() async throws {
        let dir = TempDir("sig")
        defer { dir.remove() }
        let workspace = try callerWorkspace(dir.path)
        defer { workspace.close() }
        #expect(await runShell("kill -KILL $$", in: workspace).exit == .signaled(SIGKILL))
    }

    @Test("stdin bytes are delivered and then closed")
    func stdinDelivered() async throws {
        let dir = TempDir("stdin")
        defer { dir.remove() }
        let workspace = try callerWorkspace(dir.path)
        defer { workspace.close() }
        let input = Array("line one\nline two\n".utf8)
        let outcome = await runShell("cat; echo end", in: workspace, stdin: input)
        #expect(outcome.exit == .exited(0))
        #expect(outcome.out == "line one\nline two\nend\n")
    }

    @Test("megabytes of stdin to a child that never reads do not deadlock the run")
    func unreadStdinDoesNotDeadlock() async throws {
        let dir = TempDir("stdin-big")
        defer { dir.remove() }
        let workspace = try callerWorkspace(dir.path)
        defer { workspace.close() }
        let start = monotonicMs()
        let outcome = await runShell("sleep 0.1; exit 4", in: workspace, stdin: [UInt8](repeating: 0x78, count: 4 << 20))
        #expect(outcome.exit == .exited(4))
        #expect(monotonicMs() - start < 3000)
    }

    @Test("stdout past the cap is counted, dropped, and the child still runs to completion")
    func stdoutCap() async throws {
        let dir = TempDir("cap")
        defer { dir.remove() }
        let workspace = try callerWorkspace(dir.path)
        defer { workspace.close() }
        let outcome = await runShell("yes | head -c 5000000; echo done >&2", in: workspace, outputCap: 1000)
        #expect(outcome.exit == .exited(0))
        #expect(outcome.stdout.bytes.count == 1000)
        #expect(outcome.stdout.droppedBytes == 5_000_000 - 1000)
        #expect(outcome.stdout.text.hasSuffix("[super-agent: output truncated, 4999000 more bytes dropped]"))
        #expect(outcome.err == "done\n")
        #expect(outcome.stderr.droppedBytes == 0)
    }

    @Test("stderr has its own cap and drop count")
    func stderrCap() async throws {
        let dir = TempDir("cap2")
        defer { dir.remove() }
        let workspace = try callerWorkspace(dir.path)
        defer { workspace.close() }
        let outcome = await runShell("head -c 300000 /dev/zero >&2; echo done", in: workspace, outputCap: 10)
        #expect(outcome.exit == .exited(0))
        #expect(outcome.stderr.bytes == [UInt8](repeating: 0, count: 10))
        #expect(outcome.stderr.droppedBytes == 299_990)
        #expect(outcome.out == "done\n")
    }

    @Test("a timeout reports timedOut and kills the whole process group, grandchildren included")
    func timeoutKillsGroup() async throws {
        let dir = TempDir("timeout")
        defer { dir.remove() }
        let workspace = try callerWorkspace(dir.path)
        defer { workspace.close() }
        // The grandchild ignores SIGTERM, so only the SIGKILL after the leader's exit stops it.
        let start = monotonicMs()
        let outcome = await runShell(
            "(trap '' TERM; exec sleep 1000) & echo $!; echo $$; wait", in: workspace, timeout: .milliseconds(300),
            killGrace: .seconds(5))
        let elapsed = monotonicMs() - start
        #expect(outcome.exit == .timedOut)
        #expect(elapsed < 3000, "took \(elapsed) ms: waited for the grace period although the leader had died")
        let pids = outcome.out.split(separator: "\n").compactMap { pid_t($0) }
        #expect(pids.count == 2)
        for pid in pids { #expect(processIsGone(pid), "pid \(pid) is still running") }
    }

    @Test("a child ignoring SIGTERM is SIGKILLed once the grace period is over")
    func sigtermIgnoredThenKilled() async throws {
        let dir = TempDir("grace")
        defer { dir.remove() }
        let workspace = try callerWorkspace(dir.path)
        defer { workspace.close() }
        let outcome = await runShell(
            "trap '' TERM; echo $$; sleep 1000", in: workspace, timeout: .milliseconds(200), killGrace: .milliseconds(400))
        #expect(outcome.exit == .timedOut)
        #expect(outcome.durationMs >= 550)
        #expect(outcome.durationMs < 3000)
        if let pid = pid_t(outcome.out.split(separator: "\n").first ?? "") { #expect(processIsGone(pid)) }
    }

    @Test("cancelling the awaiting task kills the child and returns cancelled promptly")
    func cancellationIsPrompt() async throws {
        let dir = TempDir("cancel")
        defer { dir.remove() }
        let workspace = try callerWorkspace(dir.path)
        defer { workspace.close() }
        let task = Task {
            await runShell("trap '' TERM; echo $$; sleep 1000", in: workspace, timeout: .seconds(60), killGrace: .milliseconds(200))
        }
        try await Task.sleep(for: .milliseconds(300))
        let cancelledAt = monotonicMs()
        task.cancel()
        let outcome = await task.value
        let waited = monotonicMs() - cancelledAt
        #expect(outcome.exit == .cancelled)
        #expect(waited < 1000, "returned \(waited) ms after cancellation")
        if let pid = pid_t(outcome.out.split(separator: "\n").first ?? "") { #expect(processIsGone(pid)) }
    }

    @Test("a task cancelled before the run starts spawns nothing")
    func cancelledBeforeStart() async throws {
        let dir = TempDir("precancel")
        defer { dir.remove() }
        let workspace = try callerWorkspace(dir.path)
        defer { workspace.close() }
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await runShell("echo ran > marker", in: workspace)
        }
        #expect(await task.value.exit == .cancelled)
        #expect(!entryExists(dir.sub("marker")))
    }

    @Test("a missing program is spawnFailed with the errno text")
    func missingProgram() async throws {
        let dir = TempDir("missing")
        defer { dir.remove() }
        let workspace = try callerWorkspace(dir.path)
        defer { workspace.close() }
        let spec = LaunchSpec(
            executable: "/nonexistent/program", arguments: ["program"], environment: [:], stdin: [], directory: workspace,
            timeout: .seconds(5))
        let outcome = await PosixProcessLauncher(confinement: .none).run(spec)
        #expect(outcome.exit == .spawnFailed("/nonexistent/program: No such file or directory"))
    }

    @Test("a relative program path or a NUL in argv is refused before spawning")
    func malformedSpecsAreRefused() async throws {
        let dir = TempDir("malformed")
        defer { dir.remove() }
        let workspace = try callerWorkspace(dir.path)
        defer { workspace.close() }
        let launcher = PosixProcessLauncher(confinement: .none)
        var spec = LaunchSpec(executable: "sh", arguments: ["sh"], environment: [:], stdin: [], directory: workspace, timeout: .seconds(5))
        guard case .spawnFailed = await launcher.run(spec).exit else { Issue.record("relative path was run"); return }
        spec.executable = "/bin/sh"
        spec.arguments = ["sh", "-c", "echo hi\u{0}rm -rf x"]
        guard case .spawnFailed = await launcher.run(spec).exit else { Issue.record("NUL argument was run"); return }
        spec.arguments = ["sh", "-c", "true"]
        spec.environment = ["A=B": "x"]
        guard case .spawnFailed = await launcher.run(spec).exit else { Issue.record("bad env name was run"); return }
    }

    @Test("the child's environment is exactly the given one")
    func environmentIsExact() async throws {
        let dir = TempDir("env")
        defer { dir.remove() }
        let workspace = try callerWorkspace(dir.path)
        defer { workspace.close() }
        let environment = ["ALPHA": "1", "SPACED": "two words", "EMPTY": ""]
        let spec = LaunchSpec(
            executable: "/usr/bin/env", arguments: ["env"], environment: environment, stdin: [], directory: workspace,
            timeout: .seconds(5))
        let outcome = await PosixProcessLauncher(confinement: .none).run(spec)
        #expect(outcome.exit == .exited(0))
        #expect(Set(outcome.out.split(separator: "\n").map(String.init)) == ["ALPHA=1", "SPACED=two words", "EMPTY="])
    }

    @Test("the child leads its own process group, with default signals, no core dumps and only fds 0-2")
    func childProcessState() async throws {
        let dir = TempDir("state")
        defer { dir.remove() }
        let workspace = try callerWorkspace(dir.path)
        defer { workspace.close() }
        signal(SIGPIPE, SIG_IGN)  // as the server does: the child must not inherit it
        let stray = open("/dev/null", O_RDONLY)  // not close-on-exec: must still not leak
        defer { close(stray) }
        let outcome = await runShell(
            """
            echo "$$ $(cut -d' ' -f5 /proc/$$/stat)"
            grep -E '^(SigIgn|SigBlk)' /proc/self/status
            ulimit -c
            ls /proc/self/fd
            """, in: workspace)
        let lines = outcome.out.split(separator: "\n").map(String.init)
        try #require(lines.count >= 5, "\(outcome.out)")
        let ids = lines[0].split(separator: " ")
        #expect(ids.count == 2 && ids[0] == ids[1], "pid and pgid differ: \(lines[0])")
        #expect(lines[1].hasSuffix("0000000000000000"), "\(lines[1])")
        #expect(lines[2].hasSuffix("0000000000000000"), "\(lines[2])")
        #expect(lines[3] == "0")
        #expect(Set(lines[4...]).isSubset(of: ["0", "1", "2", "3"]), "leaked descriptors: \(lines[4...])")
    }

    @Test("a grandchild holding the pipes open does not keep the run alive after the leader exits")
    func grandchildDoesNotHoldRun() async throws {
        let dir = TempDir("grandchild")
        defer { dir.remove() }
        let workspace = try callerWorkspace(dir.path)
        defer { workspace.close() }
        let start = monotonicMs()
        let outcome = await runShell("sleep 1000 & echo $!; echo leader-done", in: workspace, timeout: .seconds(30))
        #expect(outcome.exit == .exited(0))
        #expect(monotonicMs() - start < 3000)
        let lines = outcome.out.split(separator: "\n")
        #expect(lines.last == "leader-done")
        if let pid = pid_t(lines.first ?? "") { #expect(processIsGone(pid)) }
    }

    @Test("durationMs is measured on a monotonic clock")
    func durationIsMeasured() async throws {
        let dir = TempDir("duration")
        defer { dir.remove() }
        let workspace = try callerWorkspace(dir.path)
        defer { workspace.close() }
        let outcome = await runShell("sleep 0.2", in: workspace)
        #expect(outcome.durationMs >= 200)
        #expect(outcome.durationMs < 2000)
    }

    @Test("without confinement the outcome says none and writes outside succeed")
    func noConfinement() async throws {
        let dir = TempDir("none")
        defer { dir.remove() }
        makeDir(dir.sub("ws"))
        let workspace = try callerWorkspace(dir.sub("ws"))
        defer { workspace.close() }
        let outcome = await runShell("echo out > \(dir.path)/outside.txt", in: workspace)
        #expect(outcome.confinement == "none")
        #expect(outcome.exit == .exited(0))
        #expect(readFile(dir.sub("outside.txt")) == "out\n")
    }

    @Test(
        "under landlock the child writes inside the workspace only, still reads everywhere, and cannot signal outside",
        .enabled(if: PosixProcessLauncher.landlockABI != nil))
    func landlockConfinesWrites() async throws {
        let dir = TempDir("landlock")
        defer { dir.remove() }
        makeDir(dir.sub("ws"))
        makeDir(dir.sub("outside"))
        writeFile(dir.sub("outside/readme"), "readable\n")
        let workspace = try callerWorkspace(dir.sub("ws"))
        defer { workspace.close() }
        let outside = dir.sub("outside")
        let outcome = await runShell(
            """
            echo in > inside.txt && mkdir made && echo nested > made/n.txt && echo inside-ok
            echo out > \(outside)/outside.txt 2>/dev/null; echo "outside-rc=$?"
            mkdir \(outside)/newdir 2>/dev/null; echo "mkdir-rc=$?"
            rm -f \(outside)/readme 2>/dev/null; echo "rm-rc=$?"
            cat \(outside)/readme
            echo x > /dev/null && echo devnull-ok
            kill -0 \(getpid()) 2>/dev/null; echo "signal-rc=$?"
            """, in: workspace, launcher: PosixProcessLauncher(confinement: .landlock))
        #expect(outcome.confinement == "landlock")
        #expect(outcome.exit == .exited(0))
        let lines = outcome.out.split(separator: "\n").map(String.init)
        #expect(lines.contains("inside-ok"))
        #expect(readFile(dir.sub("ws/inside.txt")) == "in\n")
        #expect(readFile(dir.sub("ws/made/n.txt")) == "nested\n")
        #expect(lines.contains { $0.hasPrefix("outside-rc=") && $0 != "outside-rc=0" })
        #expect(lines.contains { $0.hasPrefix("mkdir-rc=") && $0 != "mkdir-rc=0" })
        #expect(lines.contains { $0.hasPrefix("rm-rc=") && $0 != "rm-rc=0" })
        #expect(!entryExists(dir.sub("outside/outside.txt")))
        #expect(!entryExists(dir.sub("outside/newdir")))
        #expect(lines.contains("readable"))
        #expect(lines.contains("devnull-ok"))
        if (PosixProcessLauncher.landlockABI ?? 0) >= 6 {
            #expect(lines.contains { $0.hasPrefix("signal-rc=") && $0 != "signal-rc=0" })
        }
    }

    @Test("requiring landlock on a kernel without it fails the spawn instead of running unconfined")
    func landlockRequiredButMissing() async throws {
        let dir = TempDir("llreq")
        defer { dir.remove() }
        let workspace = try callerWorkspace(dir.path)
        defer { workspace.close() }
        let outcome = await runShell("echo ran", in: workspace, launcher: PosixProcessLauncher(confinement: .landlock))
        if PosixProcessLauncher.landlockABI == nil {
            guard case .spawnFailed = outcome.exit else { Issue.record("ran unconfined: \(outcome.exit)"); return }
        } else {
            #expect(outcome.exit == .exited(0))
            #expect(outcome.confinement == "landlock")
        }
    }
}
