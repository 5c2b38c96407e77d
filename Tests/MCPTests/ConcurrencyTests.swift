import JSON
import Synchronization
import Testing
import TestSupport

@testable import MCP

/// `params` for a `tools/call` of `name` with a progress token.
private func callParams(_ name: String, token: JSON? = nil, arguments: JSON = .emptyObject) -> JSON {
    var params: JSONObject = ["name": .string(name), "arguments": arguments]
    if let token { params["_meta"] = ["progressToken": token] }
    return .object(params)
}

/// The `progress` values of the progress notifications for `token`, in the order sent.
private func progressValues(_ h: ServerHarness, token: JSON) -> [Double] {
    h.notifications("notifications/progress")
        .filter { $0["params"]?["progressToken"] == token }
        .compactMap { $0["params"]?["progress"]?.numberValue }
}

private func isStrictlyIncreasing(_ values: [Double]) -> Bool {
    zip(values, values.dropFirst()).allSatisfy { $0 < $1 }
}

@Suite("Concurrency, progress and cancellation")
struct ConcurrencyTests {
    @Test func pingAndToolsListAnswerWhileASlowToolRuns() async throws {
        let probe = Probe()
        let h = ServerHarness(tools: [TestTools.gated(probe)])
        try h.initialize()
        h.request("slow", "tools/call", callParams("slow"))
        #expect(await eventually { probe.startedCount == 1 })

        #expect(try resultOf(h.call("p", "ping")) == .emptyObject)
        #expect(try resultOf(h.call("l", "tools/list"))["tools"] != nil)
        #expect(h.responses(to: "slow").isEmpty, "the slow call is still running")
        #expect(h.server.inFlightCount == 1)

        probe.open()
        let result = try resultOf(await h.awaitResponse(to: "slow"))
        #expect(result["isError"] == false)
        #expect(await eventually { h.server.inFlightCount == 0 })
    }

    @Test func manyConcurrentCallsAllAnswerWithTheirOwnIDs() async throws {
        let h = ServerHarness()
        try h.initialize()
        let ids = (0..<50).map { JSON.int(Int64($0)) }
        for (i, id) in ids.enumerated() { h.request(id, "tools/call", callParams("echo", arguments: ["count": .int(Int64(i))])) }
        #expect(await eventually { ids.allSatisfy { !h.responses(to: $0).isEmpty } })
        for (i, id) in ids.enumerated() {
            let answers = h.responses(to: id)
            #expect(answers.count == 1)
            #expect(answers.first?["result"]?["structuredContent"]?["count"] == .int(Int64(i)))
        }
    }

    @Test func progressNotificationsCarryTheTokenAndStrictlyIncrease() async throws {
        let h = ServerHarness(tools: [TestTools.stepper([1, 1, 0.5, 2, .nan, .infinity, 3], total: 3)])
        try h.initialize()
        h.request(1, "tools/call", callParams("stepper", token: "tok-1"))
        _ = try await h.awaitResponse(to: 1)
        let progress = h.notifications("notifications/progress")
        try #require(!progress.isEmpty)
        #expect(progress.allSatisfy { $0["params"]?["progressToken"] == "tok-1" })
        #expect(progress.allSatisfy { $0["params"]?["total"] == .double(3) })
        #expect(progress.allSatisfy { $0["params"]?["message"] == "step" })
        let values = progressValues(h, token: "tok-1")
        #expect(values.count == progress.count, "every progress value is a number")
        #expect(isStrictlyIncreasing(values), "\(values)")
        #expect(values.allSatisfy { $0.isFinite })
        #expect(values.first == 1 && values.last == 3)
    }

    @Test func integerProgressTokenIsEchoedAsAnInteger() async throws {
        let h = ServerHarness(tools: [TestTools.stepper([1, 2])])
        try h.initialize()
        h.request(1, "tools/call", callParams("stepper", token: 77))
        _ = try await h.awaitResponse(to: 1)
        #expect(progressValues(h, token: 77) == [1, 2])
        #expect(h.notifications("notifications/progress").allSatisfy { $0["params"]?["total"] == nil })
    }

    @Test func noProgressNotificationsWithoutAProgressToken() async throws {
        let h = ServerHarness(tools: [TestTools.stepper([1, 2, 3])])
        try h.initialize()
        _ = try await h.callTool(1, "stepper")
        #expect(h.notifications("notifications/progress").isEmpty)
    }

    @Test func concurrentCallsKeepSeparateStrictlyIncreasingProgress() async throws {
        let a = Probe()
        let b = Probe()
        let h = ServerHarness(tools: [TestTools.gated(a, name: "slow-a"), TestTools.gated(b, name: "slow-b")])
        h.request(1, "tools/call", modern(["name": "slow-a"], meta: ["progressToken": "A"]))
        h.request(2, "tools/call", modern(["name": "slow-b"], meta: ["progressToken": "B"]))
        #expect(await eventually { progressValues(h, token: "A").count >= 3 && progressValues(h, token: "B").count >= 3 })
        a.open()
        b.open()
        _ = try await h.awaitResponse(to: 1)
        _ = try await h.awaitResponse(to: 2)
        for token: JSON in ["A", "B"] {
            let values = progressValues(h, token: token)
            #expect(isStrictlyIncreasing(values), "\(token.text): \(values)")
        }
        // Progress for a call never arrives after its response.
        let messages = h.messages
        let lastProgressA = messages.lastIndex { $0["params"]?["progressToken"] == "A" }
        let responseA = messages.firstIndex { $0["method"] == nil && $0["id"] == .int(1) }
        let lastA = try #require(lastProgressA)
        let answerA = try #require(responseA)
        #expect(lastA < answerA)
    }

    @Test func cancelledRequestStopsTheWorkAndGetsNoResponse() async throws {
        let probe = Probe()
        let h = ServerHarness(tools: [TestTools.gated(probe)])
        try h.initialize()
        h.request(42, "tools/call", callParams("slow", token: "t"))
        #expect(await eventually { probe.startedCount == 1 })

        h.notify("notifications/cancelled", ["requestId": 42, "reason": "user gave up"])
        #expect(await eventually { probe.observedCancellation }, "the tool sees Swift task cancellation")
        #expect(await eventually { h.server.inFlightCount == 0 })
        #expect(!probe.finished)

        // Give a wrongly sent response a moment to show up, then check none did.
        _ = await eventually(within: .milliseconds(100)) { !h.responses(to: 42).isEmpty }
        #expect(h.responses(to: 42).isEmpty)
        #expect(try resultOf(h.call("after", "ping")) == .emptyObject)
        #expect(h.responses(to: 42).isEmpty)
    }

    @Test func cancelledCallWhoseHandlerReturnsAnywayStillGetsNoResponse() async throws {
        let probe = Probe()
        let h = ServerHarness(tools: [TestTools.stubborn(probe)])
        try h.initialize()
        h.request("s", "tools/call", callParams("stubborn"))
        #expect(await eventually { probe.startedCount == 1 })
        h.notify("notifications/cancelled", ["requestId": "s"])
        #expect(await eventually { probe.observedCancellation })
        probe.open()
        #expect(await eventually { probe.finished })
        #expect(await eventually { h.server.inFlightCount == 0 })
        _ = await eventually(within: .milliseconds(100)) { !h.responses(to: "s").isEmpty }
        #expect(h.responses(to: "s").isEmpty)
    }

    @Test func cancellationMatchesTheIDsTypeExactly() async throws {
        let probe = Probe()
        let h = ServerHarness(tools: [TestTools.gated(probe)])
        try h.initialize()
        h.request(7, "tools/call", callParams("slow"))
        #expect(await eventually { probe.startedCount == 1 })
        h.notify("notifications/cancelled", ["requestId": "7"])  // a string id is another request
        h.notify("notifications/cancelled", ["requestId": 8])
        #expect(h.server.inFlightCount == 1)
        probe.open()
        let result = try resultOf(await h.awaitResponse(to: 7))
        #expect(result["isError"] == false)
        #expect(!probe.observedCancellation)
    }

    @Test func duplicateInFlightIDIsInvalidRequestAndTheFirstCallStillAnswers() async throws {
        let probe = Probe()
        let h = ServerHarness(tools: [TestTools.gated(probe)])
        try h.initialize()
        h.request("dup", "tools/call", callParams("slow"))
        #expect(await eventually { probe.startedCount == 1 })
        h.request("dup", "tools/call", callParams("slow"))
        let refusal = try #require(h.responses(to: "dup").first)
        #expect(try errorOf(refusal)["code"] == .int(-32600))
        #expect(try errorOf(refusal)["message"]?.stringValue?.contains("dup") == true)
        #expect(probe.startedCount == 1, "the duplicate never runs")

        probe.open()
        #expect(await eventually { h.responses(to: "dup").count == 2 })
        #expect(try resultOf(h.responses(to: "dup")[1])["isError"] == false)
        #expect(await eventually { h.server.inFlightCount == 0 })

        // Once finished, the id may be used again.
        h.request("dup", "tools/call", callParams("slow"))
        #expect(await eventually { h.responses(to: "dup").count == 3 })
        #expect(try resultOf(#require(h.responses(to: "dup").last))["isError"] == false)
        #expect(probe.startedCount == 2)
    }

    @Test func shutdownCancelsInFlightWorkPromptlyAndSendsNoResponse() async throws {
        let probe = Probe()
        let h = ServerHarness(tools: [TestTools.gated(probe)])
        try h.initialize()
        h.request(1, "tools/call", callParams("slow"))
        h.request(2, "tools/call", callParams("slow"))
        #expect(await eventually { probe.startedCount == 2 })

        let clock = ContinuousClock()
        let started = clock.now
        await h.server.shutdown(drain: .zero, grace: .seconds(5))
        let elapsed = clock.now - started
        #expect(elapsed < .seconds(2), "shutdown waited \(elapsed); cancellation should end the calls at once")
        #expect(h.server.inFlightCount == 0)
        #expect(probe.observedCancellation)
        #expect(!probe.finished)
        #expect(h.responses(to: 1).isEmpty && h.responses(to: 2).isEmpty)
    }

    @Test func afterShutdownNewToolCallsAreRefusedButPingIsAnswered() async throws {
        let h = ServerHarness()
        try h.initialize()
        await h.server.shutdown()
        let refusal = try errorOf(h.call(1, "tools/call", callParams("echo", arguments: ["count": 1])))
        #expect(refusal["code"] == .int(-32603))
        #expect(refusal["message"]?.stringValue?.contains("shutting down") == true)
        #expect(try resultOf(h.call(2, "ping")) == .emptyObject)
        #expect(h.server.inFlightCount == 0)
    }

    @Test func shutdownWithDrainLetsRunningCallsFinishAndAnswer() async throws {
        let probe = Probe()
        let h = ServerHarness(tools: [TestTools.gated(probe)])
        try h.initialize()
        h.request(1, "tools/call", callParams("slow"))
        #expect(await eventually { probe.startedCount == 1 })

        let server = h.server
        let shutdown = Task { await server.shutdown(drain: .seconds(5), grace: .milliseconds(100)) }
        #expect(await eventually { server.state.withLock { $0.closing } })
        probe.open()
        await shutdown.value

        #expect(!probe.observedCancellation)
        #expect(try resultOf(#require(h.responses(to: 1).first))["isError"] == false)
        #expect(server.inFlightCount == 0)
    }

    @Test func runReturnsNothingForACancelledCallEvenWhenTheHandlerReturnsNormally() async throws {
        let probe = Probe()
        let tool = TestTools.stubborn(probe)
        let task = Task {
            await MCPServer.run(tool, arguments: [:], context: .detached(), logger: .discard)
        }
        #expect(await eventually { probe.startedCount == 1 })
        task.cancel()
        probe.open()
        let outcome = await task.value
        #expect(probe.finished, "the handler ran to its normal return")
        #expect(outcome == nil, "a cancelled call has no result to send")
    }

    @Test func callMarkedCancelledAfterItsHandlerReturnedSendsNoResponse() throws {
        // The race the flag covers: cancellation arrives after the handler's last look at
        // Task.isCancelled but before the result is written.
        let h = ServerHarness()
        try h.initialize()
        let id = RequestID.string("late")
        h.server.state.withLock { $0.inFlight[id] = InFlightCall(task: nil) }
        h.server.cancel(id, reason: "too late")
        h.server.finish(id, result: .structured(["done": true]), era: .legacy("2025-11-25"))
        #expect(h.responses(to: "late").isEmpty)
        #expect(h.server.inFlightCount == 0)

        // Without the cancellation the same result is sent.
        h.server.state.withLock { $0.inFlight[.string("on-time")] = InFlightCall(task: nil) }
        h.server.finish(.string("on-time"), result: .structured(["done": true]), era: .legacy("2025-11-25"))
        #expect(try resultOf(#require(h.responses(to: "on-time").first))["structuredContent"] == ["done": true])
    }

    @Test
    func progressReportedFromConcurrentChildTasksStaysStrictlyIncreasingOnTheWire() async throws {
        let tool = Tool(
            name: "fanout", title: "Fan-out", description: "Reports progress from child tasks.",
            inputSchema: ["type": "object"], annotations: TestTools.annotations
        ) { _, context in
            await withTaskGroup(of: Void.self) { group in
                for worker in 0..<8 {
                    group.addTask {
                        for i in 0..<500 { context.reportProgress(Double(i * 8 + worker)) }
                    }
                }
            }
            return .structured(["done": true])
        }
        let h = ServerHarness(tools: [tool])
        try h.initialize()
        h.request(1, "tools/call", callParams("fanout", token: "fan"))
        _ = try await h.awaitResponse(to: 1, within: .seconds(10))
        let values = progressValues(h, token: "fan")
        let outOfOrder = zip(values, values.dropFirst()).filter { !($0 < $1) }.count
        #expect(outOfOrder == 0, "\(outOfOrder) of \(values.count) progress notifications did not increase")
    }

    @Test func cancellationArrivingWhileTheCallIsStillStartingCancelsIt() async throws {
        // The handler cancels its own request during its first, synchronous stretch: before the
        // server has stored the task's handle. The flag set then must still cancel the task.
        final class ServerRef: Sendable { let server = Mutex<MCPServer?>(nil) }
        let ref = ServerRef()
        let probe = Probe()
        let tool = Tool(
            name: "self-cancel", title: "Self-cancel", description: "Cancels itself at once.",
            inputSchema: ["type": "object"], annotations: TestTools.annotations
        ) { _, context in
            probe.markStarted()
            ref.server.withLock { $0 }?.cancel(context.requestID, reason: "while starting")
            do {
                try await Task.sleep(for: .seconds(10))
            } catch {
                probe.markCancelled()
                throw error
            }
            probe.markFinished()
            return .structured(["done": true])
        }
        let h = ServerHarness(tools: [tool])
        ref.server.withLock { $0 = h.server }
        try h.initialize()
        h.request(1, "tools/call", ["name": "self-cancel"])
        #expect(probe.startedCount == 1)
        #expect(await eventually { probe.observedCancellation }, "the task was cancelled once its handle was stored")
        #expect(await eventually { h.server.inFlightCount == 0 })
        #expect(!probe.finished)
        _ = await eventually(within: .milliseconds(100)) { !h.responses(to: 1).isEmpty }
        #expect(h.responses(to: 1).isEmpty)
    }
}
