import JSON
import Runs
import Testing

/// A valid wire request with `changes` applied (a `nil` value removes the key).
private func body(_ changes: [String: JSON] = [:], removing: [String] = []) -> JSON {
    var o: JSONObject = ["run_id": "run-1", "task": "summarize-logs", "prompt": "Summarize.", "adapter": "claude"]
    for (k, v) in changes { o[k] = v }
    for k in removing { o[k] = nil }
    return .object(o)
}

private func errorOf(_ json: JSON) -> RunRequestError? {
    do {
        _ = try RunRequest(json: json)
        return nil
    } catch {
        return error
    }
}

struct InvalidRequest: Sendable, CustomTestStringConvertible {
    var label: String
    var json: JSON
    var field: String
    var testDescription: String { label }
}

@Suite("RunRequest, RunResult and RunEvent wire forms")
struct RunRequestTests {
    static let invalid: [InvalidRequest] = [
        InvalidRequest(label: "missing run_id", json: body(removing: ["run_id"]), field: "run_id"),
        InvalidRequest(label: "null run_id", json: body(["run_id": .null]), field: "run_id"),
        InvalidRequest(label: "empty run_id", json: body(["run_id": ""]), field: "run_id"),
        InvalidRequest(label: "run_id not a string", json: body(["run_id": 5]), field: "run_id"),
        InvalidRequest(label: "run_id with a space", json: body(["run_id": "a b"]), field: "run_id"),
        InvalidRequest(label: "run_id with a slash", json: body(["run_id": "../etc"]), field: "run_id"),
        InvalidRequest(label: "run_id non-ASCII", json: body(["run_id": "rün"]), field: "run_id"),
        InvalidRequest(label: "run_id of 129 chars", json: body(["run_id": .string(String(repeating: "a", count: 129))]), field: "run_id"),
        InvalidRequest(label: "missing task", json: body(removing: ["task"]), field: "task"),
        InvalidRequest(label: "empty task", json: body(["task": ""]), field: "task"),
        InvalidRequest(label: "missing adapter", json: body(removing: ["adapter"]), field: "adapter"),
        InvalidRequest(label: "both prompt and prompt_file", json: body(["prompt_file": "/ok/p.md"]), field: "prompt"),
        InvalidRequest(label: "neither prompt nor prompt_file", json: body(removing: ["prompt"]), field: "prompt"),
        InvalidRequest(label: "bad cwd_mode", json: body(["cwd_mode": "sandbox"]), field: "cwd_mode"),
        InvalidRequest(label: "caller without caller_cwd", json: body(["cwd_mode": "caller"]), field: "caller_cwd"),
        InvalidRequest(label: "timeout 0", json: body(["timeout_s": 0]), field: "timeout_s"),
        InvalidRequest(label: "timeout negative", json: body(["timeout_s": -5]), field: "timeout_s"),
        InvalidRequest(label: "timeout over a day", json: body(["timeout_s": 86_401]), field: "timeout_s"),
        InvalidRequest(label: "timeout fractional", json: body(["timeout_s": 1.5]), field: "timeout_s"),
        InvalidRequest(label: "timeout as a string", json: body(["timeout_s": "60"]), field: "timeout_s"),
        InvalidRequest(label: "unknown field", json: body(["promt": "typo"]), field: "promt"),
        InvalidRequest(label: "model not a string", json: body(["model": 3]), field: "model"),
        InvalidRequest(label: "task over 200 bytes", json: body(["task": .string(String(repeating: "t", count: 201))]), field: "task"),
        InvalidRequest(label: "body not an object", json: ["run_id", "x"], field: "body"),
    ]

    @Test(arguments: invalid)
    func invalidRequestIsRefusedNamingTheField(_ c: InvalidRequest) throws {
        let error = try #require(errorOf(c.json), "\(c.label) should be refused")
        #expect(error.field == c.field)
        #expect(error.description.hasPrefix("\(c.field): "))
        #expect(!error.problem.isEmpty)
    }

    @Test func unknownFieldErrorListsTheAllowedFields() throws {
        let error = try #require(errorOf(body(["callerCwd": "/ok"])))
        #expect(error.field == "callerCwd")
        #expect(error.problem.contains("caller_cwd"))
        #expect(error.problem.contains("timeout_s"))
    }

    @Test func validRequestReadsEveryFieldAndDefaults() throws {
        let minimal = try RunRequest(json: body())
        #expect(minimal == RunRequest(runID: "run-1", task: "summarize-logs", prompt: "Summarize.", adapter: "claude"))
        #expect(minimal.cwdMode == .isolated)
        #expect(minimal.timeoutSeconds == nil)

        let full = try RunRequest(
            json: body([
                "prompt_file": "notes/p.md", "model": "opus", "cwd_mode": "caller", "caller_cwd": "/ok/proj",
                "timeout_s": 90.0, "caller_agent": "alice", "run_id": .string("A-z_0.9-" + String(repeating: "x", count: 120)),
            ], removing: ["prompt"]))
        #expect(full.promptFile == "notes/p.md")
        #expect(full.prompt == nil)
        #expect(full.model == "opus")
        #expect(full.cwdMode == .caller)
        #expect(full.callerCwd == "/ok/proj")
        #expect(full.timeoutSeconds == 90, "an integral real is an integer")
        #expect(full.callerAgent == "alice")
        #expect(full.runID.utf8.count == 128)

        let nullModel = try RunRequest(json: body(["model": .null, "timeout_s": .null]))
        #expect(nullModel.model == nil && nullModel.timeoutSeconds == nil, "null reads as absent")
    }

    @Test func runRequestRoundTripsThroughItsWireForm() throws {
        let original = RunRequest(
            runID: "r.1_x-2", task: "review", promptFile: "/ok/p.md", adapter: "gemini", model: "gemini-2.5-pro", cwdMode: .caller,
            callerCwd: "/ok/proj", timeoutSeconds: 300, callerAgent: "bob")
        #expect(try RunRequest(json: original.json) == original)
        #expect(try RunRequest(json: JSON.parse(original.json.text)) == original)
        let minimal = RunRequest(runID: "m", task: "t", prompt: "p", adapter: "command")
        #expect(try RunRequest(json: JSON.parse(minimal.json.text)) == minimal)
    }

    // MARK: RunResult

    @Test func runResultRoundTripsThroughTextWithEveryField() throws {
        let original = RunResult(
            status: .ok, runID: "r1", task: "t", adapter: "claude", model: "sonnet", pod: "pod-a", exitCode: 0, output: "hi\nthere",
            durationMs: 1234, usage: RunUsage(inputTokens: 10, outputTokens: 7, cacheReadTokens: 20, cacheWriteTokens: 5),
            costUSD: 0.0123, retryAfterMs: nil, message: "note", confinement: "landlock",
            details: ["session_id": "abc", "num_turns": 2, "notes": ["a", "b"]])
        let parsed = RunResult(json: try JSON.parse(original.json.text))
        #expect(parsed == original)
    }

    @Test func refusedResultHasEveryKeyWithNullsAndRoundTrips() throws {
        let busy = RunResult.refused(
            .poolBusy, RunRequest(runID: "r2", task: "t", prompt: "p", adapter: "codex"), message: "busy", pod: "p", retryAfterMs: 1500)
        let json = busy.json
        for key in [
            "status", "run_id", "task", "adapter", "model", "pod", "exit_code", "output", "duration_ms", "usage", "cost_usd",
            "retry_after_ms", "message", "confinement",
        ] {
            #expect(json[key] != nil, "\(key) is always present")
        }
        #expect(json["usage"] == .null && json["exit_code"] == .null && json["cost_usd"] == .null)
        #expect(json["status"] == "POOL_BUSY")
        #expect(json["retry_after_ms"] == 1500)
        #expect(json["details"] == nil, "empty details are left out")
        #expect(RunResult(json: try JSON.parse(json.text)) == busy)
    }

    @Test func bodyThatIsNotAResultBecomesAFailedResultSayingSo() {
        let r = RunResult(json: ["error": "bad gateway"], fallbackRunID: "r3", fallbackTask: "t3", fallbackAdapter: "claude")
        #expect(r.status == .failed)
        #expect(r.runID == "r3" && r.task == "t3" && r.adapter == "claude")
        #expect(r.message.contains("not a run result"))
        #expect(r.message.contains("bad gateway"))
        #expect(RunResult(json: ["status": "WHATEVER"]).status == .failed)
    }

    @Test func onlyOKBusyAndRunningAreNotErrors() {
        let notErrors = RunStatus.allCases.filter { !$0.isError }
        #expect(Set(notErrors) == [.ok, .poolBusy, .running])
    }

    // MARK: RunEvent

    @Test func everyRunEventRoundTripsThroughText() throws {
        let result = RunResult(status: .timeout, runID: "e1", task: "t", adapter: "gemini", pod: "p", durationMs: 5, message: "late")
        let events: [RunEvent] = [.accepted(runID: "e1", pod: "p"), .progress(runID: "e1", elapsedMs: 2500), .result(result)]
        for e in events {
            #expect(RunEvent(json: try JSON.parse(e.json.text)) == e)
        }
        #expect(events[0].json["event"] == "accepted")
        #expect(events[1].json["elapsed_ms"] == 2500)
        #expect(events[2].json["result"]?["status"] == "TIMEOUT")
    }

    @Test func malformedEventsAreNil() {
        #expect(RunEvent(json: ["event": "nope"]) == nil)
        #expect(RunEvent(json: ["event": "accepted", "run_id": "x"]) == nil)
        #expect(RunEvent(json: ["event": "progress", "run_id": "x", "elapsed_ms": "soon"]) == nil)
        #expect(RunEvent(json: ["event": "result"]) == nil)
        #expect(RunEvent(json: "accepted") == nil)
    }

    @Test func poolStatusRoundTripsAndReportsFreeSlots() throws {
        let status = PoolStatus(
            pod: "p", slots: 3, busy: 1, draining: true,
            runs: [.init(runID: "r", slot: 2, task: "t", adapter: "claude", callerAgent: nil, elapsedMs: 10, pod: "p")])
        #expect(status.json["free"] == 2)
        #expect(PoolStatus(json: try JSON.parse(status.json.text)) == status)
    }
}

@Suite("AdapterSpec and RunEnvironment")
struct AdapterSpecTests {
    static let claude = AdapterSpec.defaults.first { $0.name == "claude" }!

    @Test func chooseModelUsesAnAllowedHintOrTheDefaultWithANote() {
        #expect(Self.claude.chooseModel(hint: nil) == ("sonnet", nil))
        #expect(Self.claude.chooseModel(hint: "") == ("sonnet", nil))
        #expect(Self.claude.chooseModel(hint: "auto") == ("sonnet", nil))
        #expect(Self.claude.chooseModel(hint: "opus") == ("opus", nil))
        let (model, note) = Self.claude.chooseModel(hint: "gpt-5")
        #expect(model == "sonnet")
        let text = note ?? ""
        #expect(text.contains("\"gpt-5\" is not allowed"))
        #expect(text.contains("haiku, sonnet, opus"))
        #expect(text.contains("used the default sonnet"))

        let anyModel = AdapterSpec(
            name: "x", argv: ["x"], prompt: .stdin, modelFlag: "-m", models: [], defaultModel: nil, passEnv: [], output: .text)
        #expect(anyModel.chooseModel(hint: "whatever-1") == ("whatever-1", nil))
        #expect(anyModel.chooseModel(hint: nil) == (nil, nil))
    }

    @Test func argumentsAddTheModelFlagAndTheArgumentPromptLast() {
        #expect(Self.claude.arguments(model: "opus", prompt: "P") == ["claude", "-p", "--output-format", "json", "--model", "opus"])
        #expect(Self.claude.arguments(model: nil, prompt: "P") == ["claude", "-p", "--output-format", "json"])
        #expect(TestAdapters.echo.arguments(model: "m", prompt: "say hi") == ["echo", "-n", "say hi"], "no model flag, prompt last")
    }

    @Test func environmentKeepsOnlyTheAllowListAndTheAdaptersPassEnv() {
        let env = RunEnvironment.make(for: Self.claude, source: TestEnv.source, workspace: "/scratch/r", runID: "r")
        #expect(
            env == [
                "PATH": "/opt/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "TZ": "UTC", "ANTHROPIC_API_KEY": "sk-ant-test",
                "HOME": "/scratch/r", "TMPDIR": "/scratch/r", "SUPER_AGENT_RUN_ID": "r",
            ])
        let bare = RunEnvironment.make(for: TestAdapters.echo, source: [:], workspace: "/w", runID: "q")
        #expect(bare["PATH"] == "/usr/local/bin:/usr/bin:/bin", "a PATH is always set")
        #expect(Set(bare.keys) == ["PATH", "HOME", "TMPDIR", "SUPER_AGENT_RUN_ID"])
    }
}
