import JSON
import Runs
import Testing

@Suite("Adapter output parsers")
struct AdapterOutputTests {
    // MARK: claude -p --output-format json

    @Test func claudeSuccessMapsUsageCostAndDetails() {
        let out = OutputFormat.claudeJSON.parse(stdout: Fixtures.claudeSuccess + "\n", stderr: "", exitCode: 0)
        #expect(out.succeeded)
        #expect(out.output == "hi")
        #expect(out.message == nil)
        #expect(out.usage == RunUsage(inputTokens: 10, outputTokens: 7, cacheReadTokens: 20, cacheWriteTokens: 5))
        #expect(out.costUSD == 0.0123)
        #expect(out.details["session_id"] == "abc")
        #expect(out.details["num_turns"] == 2)
        #expect(out.details["duration_ms"] == 1234)
        #expect(out.details["duration_api_ms"] == 1000)
        #expect(out.details["subtype"] == "success")
    }

    @Test func claudeIsErrorTrueIsAFailureQuotingTheResult() {
        let out = OutputFormat.claudeJSON.parse(stdout: Fixtures.claudeError, stderr: "", exitCode: 1)
        #expect(!out.succeeded)
        let message = out.message ?? ""
        #expect(message.contains("claude reported an error"))
        #expect(message.contains("error_during_execution"))
        #expect(message.contains("API Error: 529"))
        #expect(out.usage?.inputTokens == 3)
        #expect(out.details["session_id"] == "def")
    }

    @Test func claudeIsErrorTrueWithExitZeroIsStillAFailure() {
        let stdout = Fixtures.claudeError
        let out = OutputFormat.claudeJSON.parse(stdout: stdout, stderr: "", exitCode: 0)
        #expect(!out.succeeded)
    }

    @Test func claudeNonJSONOutputIsAFailureQuotingWhatItPrinted() {
        let out = OutputFormat.claudeJSON.parse(stdout: "Invalid API key · Please run /login\n", stderr: "", exitCode: 1)
        #expect(!out.succeeded)
        let message = out.message ?? ""
        #expect(message.contains("without a JSON result"))
        #expect(message.contains("status 1"))
        #expect(message.contains("Invalid API key · Please run /login"))
        #expect(out.usage == nil)
    }

    @Test func claudeNonJSONOutputPrefersStderrWhenThereIsSome() {
        let out = OutputFormat.claudeJSON.parse(stdout: "", stderr: "node: command not found\n", exitCode: 127)
        #expect(!out.succeeded)
        #expect(out.message?.contains("node: command not found") == true)
    }

    @Test func claudeJSONPrecededByWarningLinesIsStillRead() {
        let stdout = "Warning: update available 1.0.1 -> 1.0.2\n[debug] config loaded\n" + Fixtures.claudeSuccess + "\n"
        let out = OutputFormat.claudeJSON.parse(stdout: stdout, stderr: "", exitCode: 0)
        #expect(out.succeeded)
        #expect(out.output == "hi")
        #expect(out.costUSD == 0.0123)
    }

    // MARK: gemini --output-format json

    @Test func geminiSuccessMapsTokensAndReportedModel() {
        let out = OutputFormat.geminiJSON.parse(stdout: Fixtures.geminiSuccess, stderr: "", exitCode: 0)
        #expect(out.succeeded)
        #expect(out.output == "The answer is 4.")
        #expect(out.message == nil)
        // prompt → input, candidates + thoughts → output, cached → cache read.
        #expect(out.usage == RunUsage(inputTokens: 100, outputTokens: 30, cacheReadTokens: 5, cacheWriteTokens: nil))
        #expect(out.model == "gemini-2.5-flash")
        #expect(out.details["exit_meaning"] == "success")
        #expect(out.details["error"] == nil)
    }

    @Test func geminiTokensAreSummedOverEveryModelUsed() {
        let stdout = #"""
            {"response":"ok","stats":{"models":{
              "gemini-2.5-flash-lite":{"tokens":{"prompt":10,"candidates":1,"total":11,"cached":0,"thoughts":0,"tool":0}},
              "gemini-2.5-pro":{"tokens":{"prompt":200,"candidates":40,"total":260,"cached":50,"thoughts":20,"tool":0}}}}}
            """#
        let out = OutputFormat.geminiJSON.parse(stdout: stdout, stderr: "", exitCode: 0)
        #expect(out.usage == RunUsage(inputTokens: 210, outputTokens: 61, cacheReadTokens: 50))
    }

    struct GeminiFailure: Sendable, CustomTestStringConvertible {
        var code: Int32
        var meaning: String
        var testDescription: String { "exit \(code)" }
    }

    @Test(arguments: [
        GeminiFailure(code: 1, meaning: "general error or API failure"),
        GeminiFailure(code: 42, meaning: "input error (invalid prompt or arguments)"),
        GeminiFailure(code: 53, meaning: "turn limit exceeded"),
    ])
    func geminiFailureExitCodesAreExplained(_ c: GeminiFailure) {
        let stdout = Fixtures.geminiError(code: Int(c.code), message: "Something went wrong (\(c.code))")
        let out = OutputFormat.geminiJSON.parse(stdout: stdout, stderr: "", exitCode: c.code)
        #expect(!out.succeeded)
        #expect(OutputFormat.geminiExitMeaning(c.code) == c.meaning)
        #expect(out.message == "gemini failed (\(c.meaning)): Something went wrong (\(c.code))")
        #expect(out.details["exit_meaning"] == .string(c.meaning))
        #expect(out.details["error"]?["code"] == .int(Int64(c.code)))
    }

    @Test func geminiErrorObjectWithExitZeroIsAFailure() {
        let out = OutputFormat.geminiJSON.parse(stdout: Fixtures.geminiError(code: 1, message: "quota"), stderr: "", exitCode: 0)
        #expect(!out.succeeded)
        #expect(out.message?.contains("quota") == true)
    }

    @Test func geminiWithoutJSONQuotesStderrAndTheExitMeaning() {
        let out = OutputFormat.geminiJSON.parse(stdout: "", stderr: "Error: GEMINI_API_KEY not set\n", exitCode: 41)
        #expect(!out.succeeded)
        #expect(out.message?.contains("exit status 41") == true)
        #expect(out.message?.contains("GEMINI_API_KEY not set") == true)
    }

    @Test func geminiCompactJSONPrecededByWarningLinesIsStillRead() {
        let compact = (try? JSON.parse(Fixtures.geminiSuccess))?.text ?? "{}"
        let out = OutputFormat.geminiJSON.parse(stdout: "Loaded cached credentials.\n" + compact + "\n", stderr: "", exitCode: 0)
        #expect(out.succeeded)
        #expect(out.output == "The answer is 4.")
    }

    @Test
    func geminiPrettyPrintedJSONPrecededByWarningLinesIsStillRead() {
        let stdout = "Loaded cached credentials.\n" + Fixtures.geminiSuccess + "\n"
        let out = OutputFormat.geminiJSON.parse(stdout: stdout, stderr: "", exitCode: 0)
        #expect(out.succeeded)
        #expect(out.output == "The answer is 4.")
        #expect(out.usage?.inputTokens == 100)
    }

    // MARK: codex exec --json

    @Test func codexJSONLTakesTheLastAgentMessageAndTurnUsage() {
        let out = OutputFormat.codexJSONL.parse(stdout: Fixtures.codexSuccess, stderr: "", exitCode: 0)
        #expect(out.succeeded)
        #expect(out.output == "Repo contains docs and sdk.")
        #expect(out.message == nil)
        #expect(out.usage == RunUsage(inputTokens: 24763, outputTokens: 122, cacheReadTokens: 24448))
        #expect(out.details["thread_id"] == "0199a213-81c0-7800-8aa1-bbab2a035a53")
    }

    @Test func codexTurnFailedIsAFailureWithTheErrorMessage() {
        let out = OutputFormat.codexJSONL.parse(stdout: Fixtures.codexTurnFailed, stderr: "", exitCode: 1)
        #expect(!out.succeeded)
        #expect(out.message == "codex failed (exit status 1): stream disconnected before completion: rate limit exceeded")
        #expect(out.output == "")
        #expect(out.usage == nil)
    }

    @Test func codexTurnFailedIsAFailureEvenWithExitZero() {
        let out = OutputFormat.codexJSONL.parse(stdout: Fixtures.codexTurnFailed, stderr: "", exitCode: 0)
        #expect(!out.succeeded)
    }

    @Test func codexNonJSONLinesAreSkipped() {
        let stdout = "Reading prompt from stdin...\n" + Fixtures.codexSuccess
        let out = OutputFormat.codexJSONL.parse(stdout: stdout, stderr: "", exitCode: 0)
        #expect(out.succeeded)
        #expect(out.output == "Repo contains docs and sdk.")
    }

    @Test
    func codexTransientReconnectErrorFollowedByTurnCompletedSucceeds() {
        let stdout = """
            {"type":"thread.started","thread_id":"t-3"}
            {"type":"turn.started"}
            {"type":"error","message":"Reconnecting... 1/5 (stream disconnected before completion)"}
            {"type":"item.completed","item":{"id":"item_0","type":"agent_message","text":"Done after a retry."}}
            {"type":"turn.completed","usage":{"input_tokens":100,"cached_input_tokens":0,"output_tokens":5}}

            """
        let out = OutputFormat.codexJSONL.parse(stdout: stdout, stderr: "", exitCode: 0)
        #expect(out.succeeded, "\(out.message ?? "")")
        #expect(out.output == "Done after a retry.")
    }

    // MARK: text

    @Test func textExitZeroIsTheAnswer() {
        let out = OutputFormat.text.parse(stdout: "line 1\nline 2\n", stderr: "noise", exitCode: 0)
        #expect(out.succeeded)
        #expect(out.output == "line 1\nline 2\n")
        #expect(out.message == nil)
        #expect(out.usage == nil)
    }

    @Test func textNonZeroExitIsAFailureQuotingStderr() {
        let out = OutputFormat.text.parse(stdout: "partial", stderr: "  boom: no such file\n", exitCode: 1)
        #expect(!out.succeeded)
        #expect(out.output == "partial")
        #expect(out.message == "the command exited with status 1: boom: no such file")
    }

    @Test func longStderrIsTailedNotQuotedWhole() {
        let stderr = String(repeating: "x", count: 2000) + "THE-END"
        let out = OutputFormat.text.parse(stdout: "", stderr: stderr, exitCode: 2)
        let message = out.message ?? ""
        #expect(message.hasSuffix("THE-END"))
        #expect(message.count < 600)
        #expect(message.contains("…"))
    }
}
