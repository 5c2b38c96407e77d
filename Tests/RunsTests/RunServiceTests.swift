import JSON
import Log
import Runs
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite("RunService")
struct RunServiceTests {
    // MARK: Admission under load

    @Test func tenConcurrentSubmitsOnThreeSlotsAdmitThreeAndRefuseSevenAsBusy() async throws {
        let gate = Gate()
        let h = Harness(slots: 3, retryAfterMs: 1500, fallback: Script(outcome: Outcomes.text("done"), gate: gate))
        let events = Recorder<RunEvent>()
        let results = Recorder<RunResult>()
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<10 {
                group.addTask { results.append(await h.service.submit(request("r\(i)")) { events.append($0) }) }
            }
            let sevenBack = await eventually(within: .seconds(3)) { results.count == 7 && h.launcher.launchedCount == 3 }
            #expect(sevenBack, "7 refused at once and 3 launched (got \(results.count) results, \(h.launcher.launchedCount) launched)")
            #expect(results.count == 7)
            #expect(results.all.allSatisfy { $0.status == .poolBusy })
            #expect(results.all.allSatisfy { $0.retryAfterMs == 1500 && $0.pod == Harness.pod })
            #expect(results.all.allSatisfy { $0.message.contains("every slot in the pool is busy") })
            #expect(events.count == 3)
            #expect(Set(events.all.compactMap(\.acceptedRunID)) == Set(h.launcher.launchedRunIDs))
            #expect(await h.service.status().busy == 3)
            #expect(h.service.activeCount == 3)
            gate.open()
            await group.waitForAll()
        }
        let finished = results.all.filter { $0.status != .poolBusy }
        #expect(finished.count == 3)
        #expect(finished.allSatisfy { $0.status == .ok && $0.output == "done" })
        #expect(Set(finished.map(\.runID)) == Set(events.all.compactMap(\.acceptedRunID)))
        #expect(h.launcher.maxRunning == 3)
        #expect(h.workspaces.openedCount == 3, "busy requests never get a workspace")
        #expect(await h.isClean())
        let m = h.service.metrics.snapshot
        #expect(m.runsByStatus[.ok] == 3 && m.runsByStatus[.poolBusy] == 7 && m.busy == 7)

        // The slots are back: three more run.
        let again = await withTaskGroup(of: RunStatus.self) { group in
            for i in 0..<3 { group.addTask { await h.service.submit(request("again\(i)")) { _ in }.status } }
            return await group.reduce(into: [RunStatus]()) { $0.append($1) }
        }
        #expect(again == [.ok, .ok, .ok])
    }

    // MARK: Every way a run ends gives the slot and the workspace back

    struct Ending: Sendable, CustomTestStringConvertible {
        var label: String
        var outcome: ProcessOutcome
        var status: RunStatus
        var messageContains: String
        var exitCode: Int?
        var testDescription: String { label }
    }

    static let endings: [Ending] = [
        Ending(label: "exit 0", outcome: Outcomes.text("answer"), status: .ok, messageContains: "", exitCode: 0),
        Ending(
            label: "exit 3", outcome: Outcomes.exited(3, stderr: "bad flag"), status: .failed,
            messageContains: "the command exited with status 3: bad flag", exitCode: 3),
        Ending(
            label: "timeout", outcome: Outcomes.exit(.timedOut, stdout: "half"), status: .timeout, messageContains: "timeout", exitCode: nil),
        Ending(
            label: "SIGKILL", outcome: Outcomes.exit(.signaled(9), stderr: "oom"), status: .failed, messageContains: "signal 9",
            exitCode: 137),
        Ending(
            label: "spawn failed", outcome: Outcomes.exit(.spawnFailed("Permission denied")), status: .failed,
            messageContains: "could not start command: Permission denied", exitCode: nil),
        Ending(label: "cancelled outcome", outcome: Outcomes.exit(.cancelled), status: .cancelled, messageContains: "cancelled", exitCode: nil),
    ]

    @Test(arguments: endings)
    func everyEndingReleasesTheSlotAndClosesTheWorkspaceOnce(_ e: Ending) async {
        let h = Harness(slots: 1, fallback: Script(outcome: e.outcome))
        let (result, events) = await h.run(request("end-1"))
        #expect(result.status == e.status)
        #expect(result.message.contains(e.messageContains), "\(result.message)")
        #expect(result.exitCode == e.exitCode)
        #expect(result.confinement == "landlock")
        #expect(result.durationMs == 42)
        #expect(events == [.accepted(runID: "end-1", pod: Harness.pod)])
        #expect(await h.isClean())
        #expect(h.workspaces.closeCounts == [1])

        h.launcher.setFallback(Script(outcome: Outcomes.text("next")))
        let (next, _) = await h.run(request("end-2"))
        #expect(next.status == .ok, "the single slot came back")
    }

    @Test func timeoutOutcomeIsTIMEOUTNamingTheLimitAndKeepingPartialOutput() async {
        let h = Harness(fallback: Script(outcome: Outcomes.exit(.timedOut, stdout: "partial answer")))
        let (r, _) = await h.run(request("slow", timeout: 45))
        #expect(r.status == .timeout)
        #expect(r.message.contains("45 s timeout"))
        #expect(r.output == "partial answer")
        #expect(h.launcher.specs.first?.timeout == .seconds(45))
        #expect(await h.isClean())
    }

    @Test func adapterKilledBySignalIsFAILEDNamingTheSignalWithStderrTail() async {
        let h = Harness(fallback: Script(outcome: Outcomes.exit(.signaled(9), stdout: "so far", stderr: "Killed\n")))
        let (r, _) = await h.run(request("crash", adapter: "claude"))
        #expect(r.status == .failed)
        #expect(r.message == "the claude process died from signal 9: Killed")
        #expect(r.exitCode == 137)
        #expect(r.output == "so far")
        #expect(r.details["stderr_tail"] == "Killed")
        #expect(await h.isClean())
    }

    // MARK: Cancellation

    @Test func cancelByRunIDStopsTheRunAsCANCELLED() async throws {
        let h = Harness(fallback: Script(outcome: Outcomes.text("too late"), delay: .seconds(3)))
        let submitted = Task { await h.run(request("c1")) }
        #expect(await eventually(within: .seconds(3)) { h.launcher.launchedCount == 1 })
        #expect(await h.service.cancel(runID: "c1"))
        let (r, events) = await submitted.value
        #expect(r.status == .cancelled)
        #expect(r.message.contains("cancelled"))
        #expect(events.count == 1)
        #expect(h.launcher.returned("c1") == .cancelled)
        #expect(await h.isClean())
        #expect(await h.service.cancel(runID: "c1") == false, "a finished run is no longer known")
        #expect(await h.service.cancel(runID: "never-submitted") == false)
    }

    @Test func cancellingTheSubmittingTaskCancelsTheRun() async {
        let gate = Gate()
        let h = Harness(fallback: Script(outcome: Outcomes.text("too late"), gate: gate))
        let submitted = Task { await h.run(request("c2")) }
        #expect(await eventually(within: .seconds(3)) { h.launcher.launchedCount == 1 })
        submitted.cancel()
        let (r, _) = await submitted.value
        #expect(r.status == .cancelled)
        #expect(h.launcher.returned("c2") == .cancelled)
        #expect(await h.isClean())
        gate.open()
    }

    @Test func cancelArrivingBetweenAdmissionAndLaunchStillCancels() async {
        let gate = Gate()
        let h = Harness(fallback: Script(outcome: Outcomes.text("too late"), gate: gate))
        let cancelled = Flag()
        let service = h.service
        // Inside makeIsolated the run is admitted but its launch task does not exist yet.
        h.workspaces.onMakeIsolated { runID in
            Task.detached {
                _ = await service.cancel(runID: runID)
                cancelled.set()
            }
            let deadline = ContinuousClock.now + .seconds(2)
            while !cancelled.isSet && ContinuousClock.now < deadline { usleep(500) }
        }
        let (r, _) = await h.run(request("c3"))
        #expect(cancelled.isSet)
        #expect(r.status == .cancelled)
        #expect(await h.isClean())
        gate.open()
    }

    @Test func cancelAllCancelsEveryAdmittedRun() async {
        let gate = Gate()
        let h = Harness(fallback: Script(outcome: Outcomes.text("too late"), gate: gate))
        let results = Recorder<RunResult>()
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<3 { group.addTask { results.append(await h.service.submit(request("all\(i)")) { _ in }) } }
            #expect(await eventually(within: .seconds(3)) { h.launcher.launchedCount == 3 })
            h.service.cancelAll()
            await group.waitForAll()
        }
        #expect(results.all.map(\.status) == [.cancelled, .cancelled, .cancelled])
        #expect(await h.isClean())
        gate.open()
    }

    // MARK: Refusals before anything runs

    @Test func callerPathOutsideTheRootsIsREJECTEDWithoutTakingASlot() async {
        let h = Harness()
        let (r, events) = await h.run(request("out", cwdMode: .caller, callerCwd: "/etc"))
        #expect(r.status == .rejected)
        #expect(r.message.hasPrefix("caller_cwd: "))
        #expect(r.message.contains("\"/etc\" resolves outside the workspace roots (/ok)"))
        #expect(events.isEmpty)
        #expect(h.launcher.launchedCount == 0)
        #expect(h.registry.acquires == 0, "no slot was even asked for")
        #expect(h.workspaces.openedCount == 0)
        #expect(h.service.metrics.snapshot.rejected == 1)
    }

    @Test func promptFileOutsideTheCallerDirectoryIsREJECTEDAndTheCallerWorkspaceClosed() async {
        let h = Harness(prompts: ["/etc/shadow": Array("secret".utf8)])
        let (r, events) = await h.run(request("pf", prompt: nil, promptFile: "/etc/shadow", cwdMode: .caller, callerCwd: "/ok/proj"))
        #expect(r.status == .rejected)
        #expect(r.message.hasPrefix("prompt_file: "))
        #expect(events.isEmpty)
        #expect(h.launcher.launchedCount == 0)
        #expect(h.registry.acquires == 0)
        #expect(h.workspaces.closeCounts == [1], "the caller workspace opened for the check is closed")
    }

    @Test func missingPromptFileInIsolatedModeIsREJECTEDNamingPromptFile() async {
        let h = Harness()
        let (r, _) = await h.run(request("pf2", prompt: nil, promptFile: "/ok/missing.md"))
        #expect(r.status == .rejected)
        #expect(r.message == "prompt_file: path \"/ok/missing.md\" does not exist")
        #expect(h.registry.acquires == 0)
    }

    @Test func unknownAdapterIsREJECTEDListingTheKnownAdapters() async {
        let h = Harness()
        let (r, events) = await h.run(request("u", adapter: "gpt"))
        #expect(r.status == .rejected)
        #expect(r.message == "adapter: unknown adapter \"gpt\"; known: claude, codex, command, echo, gemini")
        #expect(events.isEmpty)
        #expect(h.registry.acquires == 0)
        #expect(h.launcher.launchedCount == 0)
    }

    @Test func adapterProgramMissingFromPATHIsFAILEDNamingTheProgram() async {
        let h = Harness(programs: ["sh"])
        let (r, events) = await h.run(request("m", adapter: "gemini"))
        #expect(r.status == .failed)
        #expect(r.message.contains("program \"gemini\" was not found on the pool's PATH"))
        #expect(events.isEmpty)
        #expect(h.registry.acquires == 0)
        #expect(h.launcher.launchedCount == 0)
        #expect(h.resolver.pathsSeen == ["/opt/bin:/usr/bin:/bin"], "resolved through the pool's PATH")
    }

    @Test func drainingRefusesNewRunsWithPOOL_DRAININGWhileAdmittedRunsFinish() async {
        let gate = Gate()
        let h = Harness(fallback: Script(outcome: Outcomes.text("finished"), gate: gate))
        let first = Task { await h.run(request("before")) }
        #expect(await eventually(within: .seconds(3)) { h.launcher.launchedCount == 1 })
        h.service.beginDrain()
        #expect(h.service.isDraining)
        #expect(await h.service.status().draining)
        let (refused, events) = await h.run(request("after"))
        #expect(refused.status == .poolDraining)
        #expect(refused.message.contains("shutting down"))
        #expect(events.isEmpty)
        gate.open()
        #expect(await first.value.0.status == .ok)
        #expect(h.launcher.launchedCount == 1)
        #expect(await h.isClean())
    }

    @Test func duplicateRunIDWhileRunningIsREJECTEDAndLeavesTheFirstRunAlone() async {
        let gate = Gate()
        let h = Harness(fallback: Script(outcome: Outcomes.text("first"), gate: gate))
        let first = Task { await h.run(request("dup")) }
        #expect(await eventually(within: .seconds(3)) { h.launcher.launchedCount == 1 })
        let (dup, events) = await h.run(request("dup", cwdMode: .caller, callerCwd: "/ok/x"))
        #expect(dup.status == .rejected)
        #expect(dup.message.contains("run_id: a run with id \"dup\" is already running"))
        #expect(events.isEmpty)
        #expect(await h.service.status().busy == 1, "the duplicate's slot went back")
        #expect(h.workspaces.closeCounts == [0, 1], "the duplicate's caller workspace is closed, the first's is still open")
        #expect(h.launcher.launchedCount == 1)
        gate.open()
        #expect(await first.value.0.status == .ok)
        #expect(await h.isClean())
    }

    @Test func busyPoolClosesACallerWorkspaceItOpened() async {
        let gate = Gate()
        let h = Harness(slots: 1, fallback: Script(outcome: Outcomes.text("x"), gate: gate))
        let first = Task { await h.run(request("holder")) }
        #expect(await eventually(within: .seconds(3)) { h.launcher.launchedCount == 1 })
        let (busy, _) = await h.run(request("late", cwdMode: .caller, callerCwd: "/ok/y"))
        #expect(busy.status == .poolBusy)
        #expect(h.workspaces.closeCounts == [0, 1])
        gate.open()
        _ = await first.value
        #expect(await h.isClean())
    }

    @Test func workspaceCreationFailureIsFAILEDAndReleasesTheSlot() async {
        let h = Harness()
        h.workspaces.failIsolated("nospace")
        let (r, events) = await h.run(request("nospace"))
        #expect(r.status == .failed)
        #expect(r.message.contains("could not create the run's workspace"))
        #expect(r.message.contains("No space left on device"))
        #expect(events.count == 1, "it was accepted before the workspace was made")
        #expect(h.launcher.launchedCount == 0)
        #expect(await h.isClean())
    }

    // MARK: Model and timeout

    @Test func allowedModelHintIsPassedWithTheAdaptersFlag() async throws {
        let h = Harness(fallback: Script(outcome: Outcomes.text(Fixtures.claudeSuccess)))
        let (r, _) = await h.run(request("m1", adapter: "claude", model: "opus"))
        #expect(r.status == .ok)
        #expect(r.model == "opus")
        #expect(r.message == "")
        #expect(r.details["notes"] == nil)
        let spec = try #require(h.launcher.specs.first)
        #expect(spec.arguments == ["claude", "-p", "--output-format", "json", "--model", "opus"])
        #expect(spec.executable == "/usr/bin/claude")
        // What the adapter's parser found reaches the result.
        #expect(r.output == "hi")
        #expect(r.costUSD == 0.0123)
        #expect(r.usage?.cacheWriteTokens == 5)
        #expect(r.details["session_id"] == "abc")
    }

    @Test func disallowedModelHintFallsBackToTheDefaultWithANote() async throws {
        let h = Harness(fallback: Script(outcome: Outcomes.text(Fixtures.claudeSuccess)))
        let (r, _) = await h.run(request("m2", adapter: "claude", model: "gpt-5"))
        #expect(r.status == .ok)
        #expect(r.model == "sonnet")
        #expect(r.message.contains("model \"gpt-5\" is not allowed for adapter claude"))
        #expect(r.details["notes"]?.arrayValue?.count == 1)
        #expect(h.launcher.specs.first?.arguments.suffix(2) == ["--model", "sonnet"])
    }

    @Test func timeoutAboveThePoolLimitIsCappedWithANote() async throws {
        var limits = RunLimits()
        limits.maxTimeoutSeconds = 120
        limits.defaultTimeoutSeconds = 30
        limits.killGrace = .milliseconds(250)
        limits.outputCapBytes = 4096
        let h = Harness(limits: limits)
        let (capped, _) = await h.run(request("t1", timeout: 500))
        #expect(capped.status == .ok)
        #expect(capped.message == "timeout_s 500 was capped to the pool's limit of 120")
        #expect(capped.details["notes"] == ["timeout_s 500 was capped to the pool's limit of 120"])
        let spec = try #require(h.launcher.spec(for: "t1"))
        #expect(spec.timeout == .seconds(120))
        #expect(spec.killGrace == .milliseconds(250))
        #expect(spec.outputCap == 4096)

        let (byDefault, _) = await h.run(request("t2"))
        #expect(byDefault.message == "")
        #expect(h.launcher.spec(for: "t2")?.timeout == .seconds(30))
    }

    // MARK: What the child gets

    @Test func onlyAllowListedAndPassEnvVariablesReachTheChild() async throws {
        let h = Harness()
        _ = await h.run(request("env-claude", adapter: "claude"))
        _ = await h.run(request("env-gemini", adapter: "gemini"))
        let claude = try #require(h.launcher.spec(for: "env-claude")).environment
        let gemini = try #require(h.launcher.spec(for: "env-gemini")).environment
        for env in [claude, gemini] {
            #expect(env["SECRET"] == nil)
            #expect(env["AWS_SECRET_ACCESS_KEY"] == nil)
            #expect(env["USER"] == nil)
            #expect(env["OPENAI_API_KEY"] == nil)
            #expect(env["PATH"] == "/opt/bin:/usr/bin:/bin")
            #expect(env["LANG"] == "C.UTF-8")
        }
        #expect(claude["ANTHROPIC_API_KEY"] == "sk-ant-test")
        #expect(claude["GEMINI_API_KEY"] == nil)
        #expect(gemini["GEMINI_API_KEY"] == "gm-test")
        #expect(gemini["ANTHROPIC_API_KEY"] == nil)
        #expect(claude["HOME"] == "/scratch/env-claude" && claude["TMPDIR"] == "/scratch/env-claude")
        #expect(gemini["HOME"] == "/scratch/env-gemini" && gemini["TMPDIR"] == "/scratch/env-gemini")
        #expect(Set(claude.keys) == ["PATH", "LANG", "TZ", "ANTHROPIC_API_KEY", "HOME", "TMPDIR", "SUPER_AGENT_RUN_ID"])
    }

    @Test func callerModeRunsInTheCallersDirectoryWithHomeThere() async throws {
        let h = Harness()
        let (r, _) = await h.run(request("cw", cwdMode: .caller, callerCwd: "/ok/proj"))
        #expect(r.status == .ok)
        let spec = try #require(h.launcher.specs.first)
        #expect(spec.directory.path == "/ok/proj")
        #expect(!spec.directory.isEphemeral)
        #expect(spec.environment["HOME"] == "/ok/proj")
        #expect(await h.isClean())
    }

    @Test func isolatedModeRunsInAFreshEphemeralWorkspace() async throws {
        let h = Harness()
        _ = await h.run(request("iso"))
        let spec = try #require(h.launcher.specs.first)
        #expect(spec.directory.path == "/scratch/iso")
        #expect(spec.directory.isEphemeral)
    }

    @Test func stdinAdaptersGetThePromptOnStdinNotInArgv() async throws {
        let h = Harness()
        _ = await h.run(request("in", adapter: "codex", prompt: "Fix the bug in main.swift"))
        let spec = try #require(h.launcher.specs.first)
        #expect(spec.stdin == Array("Fix the bug in main.swift".utf8))
        #expect(spec.arguments == ["codex", "exec", "--json", "--skip-git-repo-check", "-m", "gpt-5-codex"])
        #expect(!spec.arguments.contains("Fix the bug in main.swift"))
    }

    @Test func argumentAdaptersGetThePromptAsTheLastArgumentAndEmptyStdin() async throws {
        let h = Harness()
        let (r, _) = await h.run(request("arg", adapter: "echo", prompt: "say hi"))
        #expect(r.status == .ok)
        let spec = try #require(h.launcher.specs.first)
        #expect(spec.arguments == ["echo", "-n", "say hi"])
        #expect(spec.stdin.isEmpty)
        #expect(spec.executable == "/usr/bin/echo")
    }

    @Test func promptFileIsReadRelativeToTheCallerDirectory() async throws {
        let prompt = Array("Review the diff.\n".utf8)
        let h = Harness(prompts: ["/ok/proj/notes/p.md": prompt])
        let (r, _) = await h.run(request("pf3", prompt: nil, promptFile: "notes/p.md", cwdMode: .caller, callerCwd: "/ok/proj"))
        #expect(r.status == .ok)
        #expect(h.launcher.specs.first?.stdin == prompt)
        #expect(await h.isClean())
    }

    // MARK: Status and metrics

    @Test func statusListsTheActiveRunWithItsSlotAndCaller() async throws {
        let gate = Gate()
        let h = Harness(fallback: Script(outcome: Outcomes.text("x"), gate: gate))
        let running = Task { await h.run(request("s1", adapter: "gemini", caller: "alice")) }
        #expect(await eventually(within: .seconds(3)) { h.launcher.launchedCount == 1 })
        let status = await h.service.status()
        #expect(status.pod == Harness.pod && status.slots == 3 && status.busy == 1 && !status.draining)
        let run = try #require(status.runs.first)
        #expect(run.runID == "s1" && run.slot == 0 && run.task == "task-s1" && run.adapter == "gemini")
        #expect(run.callerAgent == "alice" && run.pod == Harness.pod && run.elapsedMs >= 0)
        gate.open()
        _ = await running.value
        #expect(await h.isClean())
    }

    @Test func metricsCountRunsByStatusAndFillTheHistogram() async {
        let h = Harness()
        h.launcher.script("ok1", Script(outcome: Outcomes.text("a", ms: 250)))
        h.launcher.script("ok2", Script(outcome: Outcomes.text("b", ms: 400)))
        h.launcher.script("bad", Script(outcome: Outcomes.exited(1, ms: 2000)))
        h.launcher.script("slow", Script(outcome: Outcomes.exit(.timedOut, ms: 7000)))
        for id in ["ok1", "ok2", "bad", "slow"] { _ = await h.run(request(id)) }
        _ = await h.run(request("rej", cwdMode: .caller, callerCwd: "/nope"))
        h.service.beginDrain()
        _ = await h.run(request("drained"))

        let m = h.service.metrics.snapshot
        #expect(m.runsByStatus == [.ok: 2, .failed: 1, .timeout: 1, .rejected: 1, .poolDraining: 1])
        #expect(m.rejected == 1 && m.busy == 0)
        #expect(m.durationCount == 4, "refusals are not timed")
        #expect(abs(m.durationSum - 9.65) < 1e-9)
        let buckets = Dictionary(uniqueKeysWithValues: zip(PoolMetrics.durationBuckets, m.durationCounts))
        #expect(buckets[0.1] == 0 && buckets[0.5] == 2 && buckets[1] == 2 && buckets[5] == 3 && buckets[15] == 4)
        #expect(m.durationCounts.last == 4)

        let status = await h.service.status()
        let text = h.service.metrics.prometheusText(slots: status.slots, busySlots: status.busy, draining: status.draining)
        for line in [
            "super_agent_slots_total 3", "super_agent_slots_busy 0", "super_agent_draining 1",
            "super_agent_runs_total{status=\"OK\"} 2", "super_agent_runs_total{status=\"FAILED\"} 1",
            "super_agent_runs_total{status=\"TIMEOUT\"} 1", "super_agent_runs_total{status=\"POOL_DRAINING\"} 1",
            "super_agent_runs_rejected_total 1", "# TYPE super_agent_run_duration_seconds histogram",
            "super_agent_run_duration_seconds_bucket{le=\"0.1\"} 0", "super_agent_run_duration_seconds_bucket{le=\"0.5\"} 2",
            "super_agent_run_duration_seconds_bucket{le=\"5\"} 3", "super_agent_run_duration_seconds_bucket{le=\"+Inf\"} 4",
            "super_agent_run_duration_seconds_count 4",
        ] {
            #expect(text.split(separator: "\n").contains(Substring(line)), "missing: \(line)")
        }
        #expect(!text.contains("status=\"RUNNING\""))
        #expect(text.hasSuffix("\n"))
    }

    @Test
    func runWhoseProgramWasNotFoundIsCountedButNotTimed() async {
        let h = Harness(programs: ["sh"])
        _ = await h.run(request("missing", adapter: "gemini"))
        let m = h.service.metrics.snapshot
        #expect(m.runsByStatus[.failed] == 1)
        #expect(m.durationCount == 0, "super_agent_run_duration_seconds is the wall time of runs that started")
        #expect(m.durationCounts.allSatisfy { $0 == 0 })
    }
}
