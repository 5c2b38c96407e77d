"""`super-agent pool` end to end: a real pod on loopback with the fake agent CLIs, driven over HTTP,
by the official Python MCP SDK client through `super-agent mcp`, and by `super-agent run`."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

from conftest import binary, modern, server_env
from pool import FAKE_BIN, TOKEN, Pool, fake_path
from test_sdk_client import TAP, validate_tap

RUN_TOOLS = {"super_agent_run", "super_agent_status", "super_agent_result", "super_agent_cancel"}


@pytest.fixture
def workspace(tmp_path):
    root = tmp_path / "workspace"
    (root / "project").mkdir(parents=True)
    (root / "prompts").mkdir()
    (root / "prompts" / "ask.md").write_text("summarize PWD")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.md").write_text("outside secret")
    return root


@pytest.fixture
def pool(state_dir, workspace):
    pools: list[Pool] = []

    def start(**kw) -> Pool:
        p = Pool(state_dir, [str(workspace)], **kw)
        pools.append(p)
        return p

    yield start
    for p in pools:
        p.stop()


def rid() -> str:
    return "e2e-" + uuid.uuid4().hex[:12]


# --- HTTP API -----------------------------------------------------------------------------------


def test_a_run_streams_accepted_progress_and_result(pool):
    p = pool()
    status, events = p.run("hello SLEEP 0", rid())
    assert status == 200
    assert events[0]["event"] == "accepted" and events[0]["pod"] == "pod-test"
    assert events[-1]["event"] == "result"
    r = events[-1]["result"]
    assert r["status"] == "OK", r
    assert r["output"].startswith("[fake claude CLI, not a model]")
    assert r["cost_usd"] == 0.0021 and r["usage"]["input_tokens"] == 13
    assert r["model"] == "sonnet" and r["pod"] == "pod-test"


def test_ten_concurrent_runs_on_three_slots_give_three_runs_and_seven_busy(pool):
    p = pool()
    with ThreadPoolExecutor(10) as ex:
        outcomes = list(ex.map(lambda i: p.run("SLEEP 1.5", rid()), range(10)))
    codes = sorted(s for s, _ in outcomes)
    assert codes.count(200) == 3 and codes.count(429) == 7, codes
    for s, body in outcomes:
        if s == 429:
            assert body[0]["status"] == "POOL_BUSY" and body[0]["retry_after_ms"] > 0
        else:
            assert body[-1]["result"]["status"] == "OK"
    assert p.metric("super_agent_runs_busy_total") == 7
    p.wait_idle()


def test_busy_answer_carries_retry_after_header(pool):
    p = pool(slots=1)
    t = threading.Thread(target=p.run, args=("SLEEP 1", rid()))
    t.start()
    time.sleep(0.4)
    s, headers, body = p.request("POST", "/v1/runs", {"run_id": rid(), "task": "t", "prompt": "x", "adapter": "claude"})
    t.join()
    assert s == 429
    assert int(headers["Retry-After"]) >= 1
    assert json.loads(body)["status"] == "POOL_BUSY"


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_runs_need_the_bearer_token(pool, token):
    p = pool()
    s, headers, body = p.request("POST", "/v1/runs", {"run_id": rid(), "task": "t", "prompt": "x", "adapter": "claude"}, token=token)
    assert s == 401
    assert "Bearer" in headers.get("WWW-Authenticate", "")
    assert p.metric('super_agent_runs_total{status="OK"}') == 0
    assert p.request("GET", "/v1/status", token=token)[0] == 401


def test_the_pool_refuses_to_start_without_a_token(state_dir, workspace):
    env = {"PATH": fake_path(), "HOME": state_dir, "SUPER_AGENT_STATE_DIR": state_dir}
    r = subprocess.run([binary(), "pool", "--listen", "127.0.0.1:0"], env=env, capture_output=True, timeout=10)
    assert r.returncode == 78
    assert b"SUPER_AGENT_POOL_TOKEN" in r.stderr


def test_an_oversized_body_is_413(pool):
    p = pool()
    # Announce 9 MiB and send only the start: the pod must answer 413 without reading it all.
    s = socket.create_connection(("127.0.0.1", p.port), timeout=5)
    head = (f"POST /v1/runs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {9 << 20}\r\n\r\n")
    s.sendall(head.encode() + b'{"prompt": "' + b"x" * 65536)
    answer = s.recv(4096)
    s.close()
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert p.status()["busy"] == 0


@pytest.mark.parametrize(
    "body,field",
    [
        (b"{not json", None),
        ({"task": "t", "prompt": "x", "adapter": "claude"}, "run_id"),
        ({"run_id": "a", "task": "t", "adapter": "claude"}, "prompt"),
        ({"run_id": "a", "task": "t", "prompt": "x", "adapter": "claude", "cwd_mode": "sideways"}, "cwd_mode"),
        ({"run_id": "a", "task": "t", "prompt": "x", "adapter": "claude", "timeout_s": 0}, "timeout_s"),
        ({"run_id": "a", "task": "t", "prompt": "x", "adapter": "claude", "surprise": 1}, "surprise"),
    ],
)
def test_a_bad_request_is_400_naming_the_field(pool, body, field):
    p = pool()
    s, _, payload = p.request("POST", "/v1/runs", body)
    assert s == 400, payload
    if field:
        assert field in payload.decode()


def test_status_health_ready_and_metrics(pool):
    p = pool()
    st = p.status()
    assert st["slots"] == 3 and st["busy"] == 0 and st["pod"] == "pod-test"
    assert p.request("GET", "/healthz", token=None)[0] == 200
    assert p.request("GET", "/readyz", token=None)[0] == 200
    text = p.metrics()
    for name in ["super_agent_slots_total 3", "super_agent_slots_busy 0", "super_agent_run_duration_seconds_bucket",
                 'super_agent_runs_total{status="OK"}', "super_agent_runs_rejected_total", "super_agent_runs_busy_total"]:
        assert name in text


def test_a_client_that_disconnects_cancels_its_run_and_frees_the_slot(pool):
    p = pool()
    c = p.conn()
    c.request("POST", "/v1/runs", body=json.dumps({"run_id": rid(), "task": "t", "prompt": "SLEEP 30", "adapter": "claude"}),
              headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    r = c.getresponse()
    assert json.loads(r.readline())["event"] == "accepted"
    assert p.status()["busy"] == 1
    c.sock.shutdown(2)
    c.close()
    assert p.wait_idle(2.0) < 1.5
    assert p.metric('super_agent_runs_total{status="CANCELLED"}') == 1


def test_delete_cancels_a_run(pool):
    p = pool()
    run_id = rid()
    out: dict = {}
    t = threading.Thread(target=lambda: out.update(r=p.run("SLEEP 30", run_id)))
    t.start()
    for _ in range(100):
        if p.status()["busy"]:
            break
        time.sleep(0.02)
    s, _, body = p.request("DELETE", f"/v1/runs/{run_id}")
    assert s == 200 and json.loads(body)["cancelled"] is True
    t.join(5)
    assert out["r"][1][-1]["result"]["status"] == "CANCELLED"
    assert p.request("DELETE", "/v1/runs/no-such-run")[0] == 404
    p.wait_idle()


def test_a_timeout_kills_the_run_and_frees_the_slot(pool):
    p = pool()
    s, events = p.run("SLEEP 20", rid(), timeout_s=1)
    r = events[-1]["result"]
    assert r["status"] == "TIMEOUT" and 900 <= r["duration_ms"] < 8000
    p.wait_idle()


def test_an_adapter_that_crashes_is_failed_and_frees_the_slot(pool):
    p = pool()
    s, events = p.run("CRASH", rid())
    r = events[-1]["result"]
    assert r["status"] == "FAILED" and "signal 9" in r["message"]
    p.wait_idle()


def test_failures_of_each_adapter_are_reported_with_their_meaning(pool):
    p = pool()
    assert p.run("FAIL", rid())[1][-1]["result"]["status"] == "FAILED"
    g = p.run("BADINPUT", rid(), adapter="gemini")[1][-1]["result"]
    assert g["status"] == "FAILED" and g["exit_code"] == 42 and "input error" in g["message"]
    g = p.run("hello", rid(), adapter="gemini", model="gemini-2.5-flash-lite")[1][-1]["result"]
    assert g["status"] == "OK" and g["model"] == "gemini-2.5-flash-lite" and g["usage"]["output_tokens"] == 9
    c = p.run("hello", rid(), adapter="codex")[1][-1]["result"]
    assert c["status"] == "OK" and c["usage"]["input_tokens"] == 5


def test_an_unknown_model_falls_back_to_the_default_and_says_so(pool):
    p = pool()
    r = p.run("hi", rid(), model="gpt-7-ultra")[1][-1]["result"]
    assert r["status"] == "OK" and r["model"] == "sonnet"
    assert "gpt-7-ultra" in r["message"] and "not allowed" in r["message"]


def test_runs_see_only_allow_listed_environment(pool):
    p = pool()
    r = p.run("ENV", rid())[1][-1]["result"]
    names = set(r["output"].split())
    assert "ANTHROPIC_API_KEY" in names and "PATH" in names
    assert "POOL_SECRET" not in names and "SUPER_AGENT_POOL_TOKEN" not in names
    r = p.run("ENV", rid(), adapter="command")[1][-1]["result"]
    assert "ANTHROPIC_API_KEY" not in r["output"]


def test_isolated_runs_get_a_fresh_private_directory_removed_after(pool, state_dir):
    p = pool()
    r1 = p.run("PWD", rid())[1][-1]["result"]
    r2 = p.run("PWD", rid())[1][-1]["result"]
    assert r1["output"] != r2["output"]
    assert not os.path.exists(r1["output"]) and not os.path.exists(r2["output"])


def test_caller_mode_runs_in_the_sanitized_directory(pool, workspace):
    p = pool()
    r = p.run("PWD", rid(), cwd_mode="caller", caller_cwd=str(workspace / "project"))[1][-1]["result"]
    assert r["status"] == "OK" and r["output"] == str((workspace / "project").resolve())


def test_prompt_file_is_read_from_inside_the_caller_directory(pool, workspace):
    p = pool()
    s, _, payload = p.request("POST", "/v1/runs", {"run_id": rid(), "task": "t", "adapter": "claude", "cwd_mode": "caller",
                                                   "caller_cwd": str(workspace), "prompt_file": "prompts/ask.md"})
    assert s == 200
    result = json.loads(payload.splitlines()[-1])["result"]
    assert result["status"] == "OK" and result["output"] == str(workspace.resolve())


def hostile_paths(workspace: Path) -> list[str]:
    outside = workspace.parent / "outside"
    (workspace / "escape").symlink_to(outside)
    (workspace / "escape-rel").symlink_to("../outside")
    (workspace / "loop").symlink_to(workspace / "loop")
    return [
        str(workspace / ".." / "outside"),
        str(workspace) + "/../../../../etc",
        str(workspace) + "//..//outside",
        str(workspace / "%2e%2e" / "outside"),
        str(workspace / "%c0%ae%c0%ae" / "outside"),
        str(workspace / "escape"),
        str(workspace / "escape-rel"),
        str(workspace / "escape" / "."),
        str(workspace / "loop"),
        "project",
        "./project",
        "/etc",
        "/",
        str(workspace) + "/" + "a" * 5000,
    ]


def test_hostile_caller_paths_are_rejected_and_nothing_runs(pool, workspace):
    p = pool()
    for path in hostile_paths(workspace):
        s, events = p.run("WRITE marker.txt", rid(), cwd_mode="caller", caller_cwd=path)
        result = events[-1].get("result", events[-1])
        assert result["status"] == "REJECTED", (path, result)
        assert "caller_cwd" in result["message"] or "caller_cwd" in json.dumps(result)
    assert p.metric('super_agent_runs_total{status="OK"}') == 0
    assert not list(workspace.parent.rglob("marker.txt"))


def test_a_nul_in_the_path_is_rejected(pool, workspace):
    p = pool()
    s, events = p.run("x", rid(), cwd_mode="caller", caller_cwd=str(workspace) + "\u0000/x")
    assert events[-1].get("result", events[-1])["status"] == "REJECTED"


def test_hostile_prompt_files_are_rejected(pool, workspace):
    p = pool()
    (workspace / "leak.md").symlink_to(workspace.parent / "outside" / "secret.md")
    os.mkfifo(workspace / "fifo")
    for f in [str(workspace.parent / "outside" / "secret.md"), str(workspace / "leak.md"), str(workspace / "fifo"),
              str(workspace / "prompts"), "/etc/passwd", str(workspace / "prompts" / ".." / ".." / "outside" / "secret.md")]:
        s, _, payload = p.request("POST", "/v1/runs", {"run_id": rid(), "task": "t", "adapter": "claude", "cwd_mode": "caller",
                                                       "caller_cwd": str(workspace), "prompt_file": f})
        body = json.loads(payload.splitlines()[-1])
        result = body.get("result", body)
        assert result["status"] == "REJECTED", (f, result)
    assert p.metric('super_agent_runs_total{status="OK"}') == 0


def test_sigterm_drains_then_exits_zero(pool):
    p = pool(args=["--drain-grace", "10"])
    out: dict = {}
    t = threading.Thread(target=lambda: out.update(r=p.run("SLEEP 1.5", rid())))
    t.start()
    for _ in range(100):
        if p.status()["busy"]:
            break
        time.sleep(0.02)
    p.proc.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    assert p.request("GET", "/readyz", token=None)[0] == 503
    s, body = p.run("x", rid())
    assert s == 503 and body[0]["status"] == "POOL_DRAINING"
    t.join(10)
    assert out["r"][1][-1]["result"]["status"] == "OK"
    assert p.proc.wait(10) == 0


def test_sigterm_cancels_runs_that_outlast_the_grace(pool):
    p = pool(args=["--drain-grace", "0.5"])
    out: dict = {}
    t = threading.Thread(target=lambda: out.update(r=p.run("SLEEP 30", rid())))
    t.start()
    time.sleep(0.5)
    p.proc.send_signal(signal.SIGTERM)
    t.join(10)
    assert out["r"][1][-1]["result"]["status"] == "CANCELLED"
    assert p.proc.wait(10) == 0


# --- through MCP ----------------------------------------------------------------------------------


def mcp_params(state_dir: str, tap_file: str, pool_url: str | None, workspace: Path, **extra: str) -> StdioServerParameters:
    env = server_env(state_dir, "cto", WIRE_TAP=tap_file, PATH=fake_path(), SUPER_AGENT_WORKSPACE_ROOTS=str(workspace), **extra)
    if pool_url:
        env["SUPER_AGENT_POOL_URL"] = pool_url
        env["SUPER_AGENT_POOL_TOKEN"] = TOKEN
    return StdioServerParameters(command=sys.executable, args=[TAP, binary(), "mcp"], env=env)


@pytest.mark.parametrize("mode", ["legacy", "auto"])
def test_sdk_client_runs_a_task_on_the_pool_with_progress(pool, state_dir, workspace, tmp_path, mode):
    p = pool(args=["--config", str(Path(__file__).parent / "fast-progress.json")])
    tap = str(tmp_path / "wire.log")
    progress: list[float] = []

    async def on_progress(value, total, message) -> None:
        progress.append(value)

    async def scenario():
        async with Client(mcp_params(state_dir, tap, p.url, workspace, SUPER_AGENT_LOG_LEVEL="warning"), mode=mode) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            assert RUN_TOOLS <= set(tools)
            assert tools["super_agent_run"].annotations.read_only_hint is False
            assert tools["super_agent_run"].input_schema["additionalProperties"] is False
            r = await client.call_tool("super_agent_run", {"task": "summarize", "prompt_text": "hello SLEEP 2.5"},
                                       progress_callback=on_progress)
            assert not r.is_error, r
            sc = r.structured_content
            # adapter omitted: the routing policy sends summaries to the cheap tier.
            assert sc["status"] == "OK" and sc["pod"] == "pod-test", sc
            assert (sc["adapter"], sc["model"], sc["tier"], sc["rule"]) == ("gemini", "gemini-2.5-flash-lite", "cheap", "task:summarize*")
            assert sc["cost_usd"] > 0 and sc["details"]["cost_source"] == "computed"
            assert json.loads(r.content[0].text)["run_id"] == sc["run_id"]
            bad = await client.call_tool("super_agent_run", {"task": "x", "prompt_text": "a", "prompt_file": "/b"})
            assert bad.is_error and "prompt_text" in bad.content[0].text

    anyio.run(scenario)
    assert progress and all(b > a for a, b in zip(progress, progress[1:])), progress
    assert validate_tap(tap) > 0


def test_sdk_client_handle_tools_for_long_runs(pool, state_dir, workspace, tmp_path):
    p = pool()
    tap = str(tmp_path / "wire.log")

    async def scenario():
        async with Client(mcp_params(state_dir, tap, p.url, workspace), mode="legacy") as client:
            started = await client.call_tool("super_agent_run", {"task": "long", "prompt_text": "SLEEP 1", "wait": False})
            run_id = started.structured_content["run_id"]
            assert started.structured_content["status"] == "RUNNING" and not started.is_error
            st = await client.call_tool("super_agent_status", {"run_id": run_id})
            assert st.structured_content["status"] == "RUNNING"
            done = await client.call_tool("super_agent_result", {"run_id": run_id, "wait_s": 10})
            assert done.structured_content["status"] == "OK"
            second = await client.call_tool("super_agent_run", {"task": "long", "prompt_text": "SLEEP 30", "wait": False})
            rid2 = second.structured_content["run_id"]
            await anyio.sleep(0.5)
            c = await client.call_tool("super_agent_cancel", {"run_id": rid2})
            assert c.structured_content["cancelled"] is True
            final = await client.call_tool("super_agent_result", {"run_id": rid2, "wait_s": 5})
            assert final.structured_content["status"] == "CANCELLED" and final.is_error
            unknown = await client.call_tool("super_agent_status", {"run_id": "nope"})
            assert unknown.is_error

    anyio.run(scenario)
    p.wait_idle()
    validate_tap(tap)


def test_mcp_cancellation_kills_the_run_on_the_pod_within_a_second(pool, state_dir, workspace, raw):
    p = pool()
    srv = raw(PATH=fake_path(), SUPER_AGENT_POOL_URL=p.url, SUPER_AGENT_POOL_TOKEN=TOKEN,
              SUPER_AGENT_WORKSPACE_ROOTS=str(workspace))
    srv.initialize()
    call_id = srv.request("tools/call", {"name": "super_agent_run", "arguments": {"task": "t", "prompt_text": "SLEEP 30"}})
    for _ in range(200):
        if p.status()["busy"]:
            break
        time.sleep(0.02)
    assert p.status()["busy"] == 1
    srv.send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": call_id, "reason": "test"}})
    assert p.wait_idle(1.5) < 1.0
    assert srv.call("ping")["result"] == {}


def test_an_unreachable_pool_is_reported_at_once_and_fallback_runs_inline(state_dir, workspace, raw):
    srv = raw(PATH=fake_path(), SUPER_AGENT_POOL_URL="http://127.0.0.1:9", SUPER_AGENT_POOL_TOKEN=TOKEN,
              SUPER_AGENT_WORKSPACE_ROOTS=str(workspace))
    srv.initialize()
    t0 = time.monotonic()
    r = srv.call("tools/call", {"name": "super_agent_run", "arguments": {"task": "t", "prompt_text": "hi"}})["result"]
    assert time.monotonic() - t0 < 3
    assert r["isError"] is True and r["structuredContent"]["status"] == "POOL_UNREACHABLE"
    r = srv.call("tools/call", {"name": "super_agent_run", "arguments": {"task": "t", "prompt_text": "hi", "fallback": "inline"}})["result"]
    assert r["structuredContent"]["status"] == "OK", r["structuredContent"]["message"]
    assert r["structuredContent"]["details"]["fallback"] == "inline" and "embedded pool" in r["structuredContent"]["message"]


def test_embedded_pool_is_the_default_without_a_pool_url(state_dir, workspace, raw):
    srv = raw(PATH=fake_path(), SUPER_AGENT_WORKSPACE_ROOTS=str(workspace))
    srv.initialize()
    r = srv.call("tools/call", {"name": "super_agent_run", "arguments": {
        "task": "t", "prompt_file": str(workspace / "prompts" / "ask.md"), "cwd_mode": "caller", "caller_cwd": str(workspace)}})["result"]
    assert r["structuredContent"]["status"] == "OK", r["structuredContent"]["message"]
    assert r["structuredContent"]["output"] == str(workspace.resolve())
    # The prompt file must lie inside caller_cwd.
    r = srv.call("tools/call", {"name": "super_agent_run", "arguments": {
        "task": "t", "prompt_file": str(workspace / "prompts" / "ask.md"), "cwd_mode": "caller", "caller_cwd": str(workspace / "project")}})["result"]
    assert r["structuredContent"]["status"] == "REJECTED" and "prompt_file" in r["structuredContent"]["message"]
    assert r["structuredContent"]["pod"]


def test_busy_with_wait_s_retries_until_a_slot_frees(state_dir, workspace, raw):
    srv = raw(PATH=fake_path(), SUPER_AGENT_WORKSPACE_ROOTS=str(workspace), SUPER_AGENT_SLOTS="1")
    srv.initialize()
    first = srv.request("tools/call", {"name": "super_agent_run", "arguments": {"task": "t", "prompt_text": "SLEEP 1"}})
    time.sleep(0.3)
    busy = srv.call("tools/call", {"name": "super_agent_run", "arguments": {"task": "t", "prompt_text": "x"}})["result"]
    assert busy["structuredContent"]["status"] == "POOL_BUSY" and busy["isError"] is False
    waited = srv.request("tools/call", {"name": "super_agent_run", "arguments": {"task": "t", "prompt_text": "x", "wait_s": 10}})
    answers = {}
    while len(answers) < 2:
        msg = srv.recv(timeout=15)
        if "id" in msg:
            answers[msg["id"]] = msg["result"]["structuredContent"]["status"]
    assert answers == {first: "OK", waited: "OK"}


# --- super-agent run ------------------------------------------------------------------------------


def cli_run(state_dir: str, workspace: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    e = {"PATH": fake_path(), "HOME": state_dir, "SUPER_AGENT_STATE_DIR": state_dir, "SUPER_AGENT_WORKSPACE_ROOTS": str(workspace), **env}
    return subprocess.run([binary(), "run", *args], env=e, capture_output=True, timeout=30)


def test_run_command_exit_codes(pool, state_dir, workspace):
    ok = cli_run(state_dir, workspace, "--task", "t", "--prompt", "hello")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["status"] == "OK"
    failed = cli_run(state_dir, workspace, "--task", "t", "--prompt", "FAIL")
    assert failed.returncode == 1 and json.loads(failed.stdout)["status"] == "FAILED"
    unreachable = cli_run(state_dir, workspace, "--task", "t", "--prompt", "x", SUPER_AGENT_POOL_URL="http://127.0.0.1:9")
    assert unreachable.returncode == 69 and json.loads(unreachable.stdout)["status"] == "POOL_UNREACHABLE"
    p = pool(slots=1)
    t = threading.Thread(target=p.run, args=("SLEEP 1.5", rid()))
    t.start()
    time.sleep(0.4)
    busy = cli_run(state_dir, workspace, "--task", "t", "--prompt", "x", SUPER_AGENT_POOL_URL=p.url, SUPER_AGENT_POOL_TOKEN=TOKEN)
    t.join()
    assert busy.returncode == 75 and json.loads(busy.stdout)["status"] == "POOL_BUSY"
    usage = cli_run(state_dir, workspace, "--prompt", "x")
    assert usage.returncode == 64 and b"--task" in usage.stderr
