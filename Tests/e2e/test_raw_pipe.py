"""The real binary over raw pipes: malformed, oversized, binary and half-written input, both eras'
envelopes, concurrency, cancellation and shutdown. Every line the server writes is validated against
the official wire types (see wire.py); after each bad input the server must still answer."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time

import pytest

from conftest import MODERN_META, binary, modern, server_env


def assert_alive(srv) -> None:
    r = srv.call("ping")
    assert r["result"] == {} or r["result"].get("resultType") == "complete"
    assert srv.alive()


def error_of(msg: dict) -> dict:
    assert "error" in msg, f"expected an error, got {msg}"
    return msg["error"]


# --- framing and JSON-RPC errors -------------------------------------------------------------


def test_a_line_that_is_not_json_gets_parse_error_with_null_id(raw):
    srv = raw()
    srv.write(b"this is not json\n")
    msg = srv.recv()
    assert msg["id"] is None and error_of(msg)["code"] == -32700
    assert_alive(srv)


def test_invalid_utf8_and_binary_garbage_get_parse_errors(raw):
    srv = raw()
    srv.write(b'{"jsonrpc":"2.0","id":1,"method":"ping","x":"\xff\xfe"}\n')
    assert error_of(srv.recv())["code"] == -32700
    srv.write(bytes(range(0, 256)).replace(b"\n", b"") + b"\n")
    assert error_of(srv.recv())["code"] == -32700
    srv.write(b"\x00\x00\x00\n")
    assert error_of(srv.recv())["code"] == -32700
    assert_alive(srv)


def test_half_written_line_gets_parse_error_and_the_next_line_is_served(raw):
    srv = raw()
    srv.write(b'{"jsonrpc":"2.0","id":7,"method":"pi')
    time.sleep(0.1)
    srv.write(b"\n")
    assert error_of(srv.recv())["code"] == -32700
    assert_alive(srv)


def test_half_written_line_at_eof_gets_parse_error_then_clean_exit(raw):
    srv = raw()
    srv.write(b'{"jsonrpc":"2.0","id":7,"method":"pi')
    srv.proc.stdin.close()
    assert error_of(srv.recv())["code"] == -32700
    assert srv.proc.wait(timeout=2) == 0


def test_batches_and_non_objects_are_invalid_requests(raw):
    srv = raw()
    for payload in (b"[]", b'[{"jsonrpc":"2.0","id":1,"method":"ping"}]', b"42", b'"ping"', b"null", b"true"):
        srv.write(payload + b"\n")
        msg = srv.recv()
        assert msg["id"] is None and error_of(msg)["code"] == -32600, payload
    assert_alive(srv)


def test_malformed_envelopes_are_invalid_requests_with_their_id(raw):
    srv = raw()
    srv.send({"id": 5, "method": "ping"})  # no jsonrpc
    msg = srv.recv()
    assert msg["id"] == 5 and error_of(msg)["code"] == -32600
    srv.send({"jsonrpc": "1.0", "id": 6, "method": "ping"})
    assert srv.recv()["id"] == 6
    srv.send({"jsonrpc": "2.0", "id": 7, "method": 12})
    assert error_of(srv.recv())["code"] == -32600
    srv.send({"jsonrpc": "2.0", "id": 8, "method": "ping", "params": [1, 2]})
    assert error_of(srv.recv())["code"] == -32600
    srv.send({"jsonrpc": "2.0", "id": None, "method": "ping"})
    msg = srv.recv()
    assert msg["id"] is None and error_of(msg)["code"] == -32600
    srv.send({"jsonrpc": "2.0", "id": 1.5, "method": "ping"})
    assert error_of(srv.recv())["code"] == -32600
    assert_alive(srv)


def test_duplicate_keys_and_deep_nesting_are_rejected_without_a_crash(raw):
    srv = raw()
    srv.write(b'{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}\n')
    assert error_of(srv.recv())["code"] == -32700
    srv.write(b"[" * 100_000 + b"]" * 100_000 + b"\n")
    assert error_of(srv.recv())["code"] in (-32700, -32600)
    assert_alive(srv)


def test_oversized_line_is_refused_and_reading_resumes_at_the_next_newline(raw):
    srv = raw(args=["--max-line-bytes", "2048"])
    big = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"pad": "x" * 5000}}).encode()
    srv.write(big + b"\n" + json.dumps({"jsonrpc": "2.0", "id": 2, "method": "ping"}).encode() + b"\n")
    first = srv.recv()
    assert first["id"] is None and error_of(first)["code"] == -32600
    assert "2048" in first["error"]["message"]
    assert srv.recv()["id"] == 2
    assert_alive(srv)


def test_default_limit_is_eight_mebibytes(raw):
    srv = raw()
    ok = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"pad": "y" * (7 << 20)}}).encode()
    too_big = b'{"pad":"' + b"z" * (9 << 20) + b'"}'
    srv.write(ok + b"\n")
    assert srv.recv(timeout=20)["id"] == 1
    srv.write(too_big + b"\n")
    msg = srv.recv(timeout=20)
    assert error_of(msg)["code"] == -32600 and "8388608" in msg["error"]["message"]
    assert_alive(srv)


def test_responses_from_the_client_and_unknown_notifications_are_ignored(raw):
    srv = raw()
    srv.send({"jsonrpc": "2.0", "id": 99, "result": {}})
    srv.send({"jsonrpc": "2.0", "method": "notifications/whatever"})
    srv.send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 12345}})
    assert_alive(srv)


def test_stdout_carries_protocol_only_and_stderr_is_json_lines(raw):
    srv = raw()
    srv.initialize()
    srv.call("tools/list")
    srv.write(b"junk\n")
    srv.recv()
    assert srv.close() == 0
    assert srv.stderr, "the server logs to stderr"
    for line in srv.stderr:
        entry = json.loads(line)
        assert {"ts", "level", "message"} <= entry.keys()


# --- legacy era ----------------------------------------------------------------------------


@pytest.mark.parametrize("offered,expected", [
    ("2024-11-05", "2024-11-05"), ("2025-03-26", "2025-03-26"), ("2025-06-18", "2025-06-18"),
    ("2025-11-25", "2025-11-25"), ("1999-01-01", "2025-11-25"), ("2026-07-28", "2025-11-25"),
])
def test_initialize_echoes_a_supported_version_or_answers_the_newest(raw, offered, expected):
    srv = raw()
    r = srv.initialize(offered)
    assert r["result"]["protocolVersion"] == expected
    assert r["result"]["serverInfo"]["name"] == "super-agent"
    assert "tools" in r["result"]["capabilities"] and "logging" in r["result"]["capabilities"]
    tools = srv.call("tools/list")["result"]["tools"]
    assert {t["name"] for t in tools} == {"should_i_delegate", "get_delegation_recommendation", "report_capacity",
                                         "super_agent_run", "super_agent_status", "super_agent_result", "super_agent_cancel",
                                         "cost_report"}
    if expected < "2025-06-18":
        assert all("outputSchema" not in t for t in tools)
    else:
        assert all("outputSchema" in t for t in tools)


def test_initialize_without_a_version_is_invalid_params(raw):
    srv = raw()
    assert error_of(srv.call("initialize", {"capabilities": {}}))["code"] == -32602


def test_initialize_makes_the_session_legacy(raw):
    srv = raw()
    srv.initialize()
    r = srv.call("server/discover", modern())
    assert error_of(r)["code"] == -32601
    r = srv.call("tools/list", modern())  # modern _meta is ignored in a legacy session
    assert "resultType" not in r["result"]


def test_unknown_method_is_method_not_found(raw):
    srv = raw()
    srv.initialize()
    assert error_of(srv.call("resources/list"))["code"] == -32601
    assert error_of(srv.call("no/such/method"))["code"] == -32601


def test_logging_set_level_sends_log_notifications_and_rejects_bad_levels(raw):
    srv = raw()
    srv.initialize()
    assert error_of(srv.call("logging/setLevel", {"level": "chatty"}))["code"] == -32602
    assert srv.call("logging/setLevel", {"level": "debug"})["result"] == {}
    srv.notifications = []
    srv.call("tools/call", {"name": "should_i_delegate", "arguments": {}})
    logs = [n for n in srv.notifications if n["method"] == "notifications/message"]
    assert logs and logs[0]["params"]["level"] == "debug"


# --- tools/call errors -----------------------------------------------------------------------


def test_unknown_tool_is_invalid_params_naming_the_known_tools(raw):
    srv = raw()
    srv.initialize()
    e = error_of(srv.call("tools/call", {"name": "super_agent_launch", "arguments": {}}))
    assert e["code"] == -32602 and "should_i_delegate" in e["message"]
    assert error_of(srv.call("tools/call", {"arguments": {}}))["code"] == -32602
    assert error_of(srv.call("tools/call", {"name": "report_capacity", "arguments": [1]}))["code"] == -32602


@pytest.mark.parametrize("arguments,field,hint", [
    ({"task_priority": "urgent"}, "task_priority", "critical"),
    ({"task_priority": 3}, "task_priority", "string"),
    ({"delegation_chain": "cto"}, "delegation_chain", "array"),
    ({"delegation_chain": [1]}, "delegation_chain[0]", "string"),
    ({"bogus": True}, "bogus", "known"),
])
def test_bad_argument_values_are_tool_errors_naming_the_field(raw, arguments, field, hint):
    srv = raw()
    srv.initialize()
    r = srv.call("tools/call", {"name": "should_i_delegate", "arguments": arguments})["result"]
    assert r["isError"] is True
    text = r["content"][0]["text"]
    assert field in text and hint in text


def test_report_capacity_range_errors(raw):
    srv = raw()
    srv.initialize()
    for args, field in (({}, "active_tasks"), ({"active_tasks": -1}, "active_tasks"),
                        ({"active_tasks": 1, "max_tasks": 0}, "max_tasks"), ({"active_tasks": 1.5}, "active_tasks")):
        r = srv.call("tools/call", {"name": "report_capacity", "arguments": args})["result"]
        assert r["isError"] is True and field in r["content"][0]["text"], args


# --- modern era ------------------------------------------------------------------------------


def test_discover_and_modern_results_carry_result_type_and_server_info(raw):
    srv = raw()
    d = srv.call("server/discover", modern())["result"]
    assert "2026-07-28" in d["supportedVersions"] and "2025-11-25" in d["supportedVersions"]
    assert d["resultType"] == "complete"
    assert d["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "super-agent"
    listed = srv.call("tools/list", modern())["result"]
    assert listed["ttlMs"] > 0 and listed["cacheScope"] in ("public", "private")
    call = srv.call("tools/call", modern({"name": "report_capacity", "arguments": {"active_tasks": 0}}))["result"]
    assert call["resultType"] == "complete" and call["structuredContent"]["free"] == 3


def test_unsupported_modern_version_is_32022_with_supported_and_requested(raw):
    srv = raw()
    meta = {**MODERN_META, "io.modelcontextprotocol/protocolVersion": "2099-01-01"}
    e = error_of(srv.call("tools/list", {"_meta": meta}))
    assert e["code"] == -32022
    assert e["data"]["requested"] == "2099-01-01" and "2026-07-28" in e["data"]["supported"]


def test_missing_required_meta_is_invalid_params(raw):
    srv = raw()
    assert error_of(srv.call("tools/list"))["code"] == -32602
    assert error_of(srv.call("tools/list", {}))["code"] == -32602
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}  # no clientCapabilities
    e = error_of(srv.call("tools/list", {"_meta": meta}))
    assert e["code"] == -32602 and "clientCapabilities" in e["message"]
    e = error_of(srv.call("tools/list", modern(**{"io.modelcontextprotocol/logLevel": "loud"})))
    assert e["code"] == -32602
    assert error_of(srv.call("logging/setLevel", modern({"level": "info"})))["code"] == -32601


def test_modern_log_level_in_meta_opts_in_to_log_notifications(raw):
    srv = raw()
    srv.notifications = []
    srv.call("tools/call", modern({"name": "should_i_delegate", "arguments": {}}))
    assert not [n for n in srv.notifications if n["method"] == "notifications/message"]
    srv.call("tools/call", modern({"name": "should_i_delegate", "arguments": {}},
                                  **{"io.modelcontextprotocol/logLevel": "debug"}))
    assert [n for n in srv.notifications if n["method"] == "notifications/message"]


# --- concurrency, cancellation, shutdown --------------------------------------------------------


SLOW = {"name": "report_capacity", "arguments": {"active_tasks": 1}}


@pytest.fixture
def locked_store(state_dir):
    """Holds the shared capacity database's write lock, so report_capacity blocks in SQLite's busy
    wait (reads never block in WAL mode)."""
    holder = {}

    def lock(srv):
        srv.initialize()
        assert not srv.call("tools/call", {"name": "report_capacity", "arguments": {"active_tasks": 0}})["result"]["isError"]
        conn = sqlite3.connect(f"{state_dir}/capacity.sqlite3", timeout=5, isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        holder["conn"] = conn
        return conn

    yield lock
    if "conn" in holder:
        holder["conn"].close()


def test_a_slow_tool_call_never_delays_ping_or_tools_list(raw, locked_store):
    srv = raw()
    conn = locked_store(srv)
    slow = srv.request("tools/call", SLOW)
    t0 = time.monotonic()
    assert srv.call("ping")["result"] == {}
    assert "tools" in srv.call("tools/list")["result"]
    assert time.monotonic() - t0 < 1.0
    conn.execute("ROLLBACK")
    r = srv.response(slow, timeout=10)
    assert r["result"]["isError"] is False


def test_cancelled_request_gets_no_response(raw, locked_store):
    srv = raw()
    conn = locked_store(srv)
    slow = srv.request("tools/call", SLOW)
    time.sleep(0.1)
    srv.send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": slow, "reason": "test"}})
    time.sleep(0.1)
    conn.execute("ROLLBACK")
    time.sleep(0.3)
    r = srv.call("ping")  # the only message that arrives is the ping answer
    assert r["result"] == {}
    assert not [m for m in srv.wire.server_messages if m.get("id") == slow]


def test_duplicate_in_flight_id_is_refused(raw, locked_store):
    srv = raw()
    conn = locked_store(srv)
    srv.request("tools/call", SLOW, id="dup")
    srv.request("tools/call", SLOW, id="dup")
    first = srv.recv()
    assert first["id"] == "dup" and error_of(first)["code"] == -32600
    conn.execute("ROLLBACK")
    assert srv.recv(timeout=10)["result"]["isError"] is False


@pytest.mark.parametrize("spin_us", ["0", "50", "10000"])
def test_calls_in_lockstep_and_after_a_pause_are_answered_with_any_stdin_spin(raw, spin_us):
    # The reader polls stdin for spin_us after each message, then sleeps in read(2): a request that
    # comes within the spin, and one that comes after it ran out, are both answered.
    srv = raw(SUPER_AGENT_STDIN_SPIN_US=spin_us)
    srv.initialize()
    for _ in range(30):
        r = srv.call("tools/call", {"name": "should_i_delegate", "arguments": {"task_priority": "normal"}})
        assert r["result"]["isError"] is False and r["result"]["structuredContent"]["action"]
    time.sleep(0.05)
    assert_alive(srv)
    assert srv.close() == 0


@pytest.mark.parametrize("value", ["-3", "10001", "fast"])
def test_a_bad_stdin_spin_stops_the_server_at_start_naming_the_setting(state_dir, value):
    out = subprocess.run([binary(), "mcp"], env=server_env(state_dir, SUPER_AGENT_STDIN_SPIN_US=value),
                         input=b"", capture_output=True, timeout=10)
    assert out.returncode == 78 and out.stdout == b""
    assert b"SUPER_AGENT_STDIN_SPIN_US" in out.stderr and b"0 to 10000" in out.stderr


def test_concurrent_calls_all_answer_with_their_ids(raw):
    srv = raw()
    srv.initialize()
    ids = [srv.request("tools/call", {"name": "should_i_delegate", "arguments": {"task_priority": "low"}})
           for _ in range(50)]
    seen = {srv.recv()["id"] for _ in ids}
    assert seen == set(ids)


@pytest.mark.parametrize("how", ["eof", "SIGTERM", "SIGINT"])
def test_exits_zero_within_a_second(raw, how):
    srv = raw()
    srv.initialize()
    t0 = time.monotonic()
    if how == "eof":
        srv.proc.stdin.close()
    else:
        srv.signal(getattr(signal, how))
    assert srv.proc.wait(timeout=2) == 0
    assert time.monotonic() - t0 < 1.0


@pytest.mark.parametrize("how", ["eof", "SIGTERM"])
def test_exits_zero_within_a_second_with_work_in_flight(raw, locked_store, how):
    srv = raw()
    conn = locked_store(srv)
    srv.request("tools/call", SLOW)
    time.sleep(0.1)
    t0 = time.monotonic()
    if how == "eof":
        srv.proc.stdin.close()
    else:
        srv.signal(signal.SIGTERM)
    assert srv.proc.wait(timeout=3) == 0
    assert time.monotonic() - t0 < 1.0
    conn.execute("ROLLBACK")


def test_a_client_that_vanishes_does_not_crash_the_server(state_dir):
    # No reader thread here: the test closes the read end of stdout so every later write hits EPIPE.
    proc = subprocess.Popen(
        [binary(), "mcp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=server_env(state_dir),
    )
    try:
        init = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "e2e", "version": "1"}}
        proc.stdin.write(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init}).encode() + b"\n")
        proc.stdin.flush()
        assert json.loads(proc.stdout.readline())["id"] == 1
        proc.stdout.close()
        for i, method in enumerate(["tools/list", "ping", "tools/list"], start=2):
            proc.stdin.write(json.dumps({"jsonrpc": "2.0", "id": i, "method": method}).encode() + b"\n")
            proc.stdin.flush()
            time.sleep(0.05)
        assert proc.poll() is None, "the server died when its client vanished"
        proc.stdin.close()
        assert proc.wait(timeout=2) == 0
        assert b"Fatal" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_non_blocking_stdin_is_served_without_burning_cpu_while_idle(state_dir):
    # A parent may hand down a non-blocking descriptor: read(2) then says EAGAIN instead of waiting,
    # and the server must sleep until input comes rather than loop on it.
    r, w = os.pipe()
    os.set_blocking(r, False)
    proc = subprocess.Popen([binary(), "mcp"], stdin=r, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            env=server_env(state_dir))
    os.close(r)
    try:
        def cpu_seconds() -> float:
            fields = open(f"/proc/{proc.pid}/stat").read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

        init = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "e2e", "version": "1"}}
        os.write(w, json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init}).encode() + b"\n")
        assert json.loads(proc.stdout.readline())["id"] == 1
        before = cpu_seconds()
        time.sleep(1.0)  # idle, with nothing to read
        used = cpu_seconds() - before
        assert used < 0.3, f"the idle server used {used:.2f} s of CPU in 1 s"
        os.write(w, json.dumps({"jsonrpc": "2.0", "id": 2, "method": "ping"}).encode() + b"\n")
        assert json.loads(proc.stdout.readline())["id"] == 2
        os.close(w)
        w = -1
        assert proc.wait(timeout=3) == 0
    finally:
        if w >= 0:
            os.close(w)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
