"""The run ledger end to end: `super-agent run` through the real binary with the fake agent CLIs on PATH,
then `super-agent costs` and the MCP `cost_report` tool read back what every run cost.

The fake claude reports total_cost_usd 0.0021 per successful run and 0 for FAIL; the fake gemini
reports tokens only (prompt = prompt bytes, candidates = 9), so its cost is computed from prices."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

from conftest import binary
from pool import TOKEN, Pool, fake_path

CLAUDE_RUN_USD = 0.0021
# gemini-2.5-flash-lite: $0.10 input, $0.40 output per Mtok; prompt "hello" = 5 tokens, 9 output tokens.
GEMINI_HELLO_USD = (5 * 0.10 + 9 * 0.40) / 1_000_000


@pytest.fixture
def workspace(tmp_path):
    root = tmp_path / "workspace"
    root.mkdir()
    return root


def run_env(state_dir: str, workspace: Path, **extra: str) -> dict[str, str]:
    env = {"PATH": fake_path(), "HOME": state_dir, "SUPER_AGENT_STATE_DIR": state_dir,
           "SUPER_AGENT_WORKSPACE_ROOTS": str(workspace)}
    env.update(extra)
    return env


def cli_run(state_dir: str, workspace: Path, task: str, prompt: str, *args: str, **env: str) -> tuple[int, dict]:
    out = subprocess.run([binary(), "run", "--task", task, "--prompt", prompt, *args],
                         env=run_env(state_dir, workspace, **env), capture_output=True, timeout=30)
    assert out.stdout, f"no result printed (exit {out.returncode}): {out.stderr[-2000:]!r}"
    return out.returncode, json.loads(out.stdout)


def costs_json(state_dir: str, *args: str, **env: str) -> dict:
    e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": state_dir, "SUPER_AGENT_STATE_DIR": state_dir, **env}
    out = subprocess.run([binary(), "costs", "--format", "json", *args], env=e, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def ledger_rows(state_dir: str) -> list[dict]:
    db = sqlite3.connect(os.path.join(state_dir, "ledger.sqlite3"))
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute("SELECT * FROM ledger ORDER BY at")]
    finally:
        db.close()


def write_config(state_dir: str, config: dict) -> str:
    path = Path(state_dir, "config.json")
    path.write_text(json.dumps(config))
    return str(path)


def close(a: float, b: float) -> bool:
    return abs(a - b) < 1e-9


def test_every_status_lands_in_the_ledger_and_the_report_counts_it(state_dir, workspace):
    code, ok = cli_run(state_dir, workspace, "ok-task", "hello")
    assert code == 0 and ok["status"] == "OK", ok
    assert ok["adapter"] == "claude" and ok["model"] == "sonnet" and ok["rule"] == "default"
    assert close(ok["cost_usd"], CLAUDE_RUN_USD) and ok["details"]["cost_source"] == "reported"

    code, failed = cli_run(state_dir, workspace, "fail-task", "FAIL")
    assert code == 1 and failed["status"] == "FAILED", failed

    t0 = time.monotonic()
    code, timed_out = cli_run(state_dir, workspace, "timeout-task", "SLEEP 5", "--timeout", "1")
    assert code == 1 and timed_out["status"] == "TIMEOUT", timed_out
    assert time.monotonic() - t0 < 4.5

    # A remote pool with one slot, held by a run sent straight to it (so it is not in this ledger).
    pool_dir = tempfile.mkdtemp(prefix="sa-e2e-pool-")
    p = Pool(pool_dir, [str(workspace)], slots=1)
    try:
        holder = threading.Thread(target=p.run, args=("SLEEP 1.5", "hold-" + uuid.uuid4().hex[:8]))
        holder.start()
        deadline = time.monotonic() + 5
        while p.status()["busy"] == 0:
            assert time.monotonic() < deadline, "the holding run never took the slot"
            time.sleep(0.02)
        code, busy = cli_run(state_dir, workspace, "busy-task", "hello",
                             SUPER_AGENT_POOL_URL=p.url, SUPER_AGENT_POOL_TOKEN=TOKEN)
        holder.join()
    finally:
        p.stop()
        shutil.rmtree(pool_dir, ignore_errors=True)
    assert code == 75 and busy["status"] == "POOL_BUSY", busy

    rows = {r["task"]: r for r in ledger_rows(state_dir)}
    assert {t: r["status"] for t, r in rows.items()} == {
        "ok-task": "OK", "fail-task": "FAILED", "timeout-task": "TIMEOUT", "busy-task": "POOL_BUSY"}
    assert {t: r["run_id"] for t, r in rows.items()} == {
        "ok-task": ok["run_id"], "fail-task": failed["run_id"], "timeout-task": timed_out["run_id"], "busy-task": busy["run_id"]}
    assert {t: r["cost_source"] for t, r in rows.items()} == {
        "ok-task": "reported", "fail-task": "reported", "timeout-task": "unknown", "busy-task": "not_run"}

    for since in ("7d", "1d"):
        report = costs_json(state_dir, "--by", "task", "--since", since)
        by_task = {r["key"]: r for r in report["rows"]}
        assert set(by_task) == {"ok-task", "fail-task", "timeout-task", "busy-task"}, report
        assert all(r["runs"] == 1 for r in by_task.values())
        assert close(by_task["ok-task"]["spend_usd"], CLAUDE_RUN_USD)
        assert by_task["fail-task"]["spend_usd"] == 0 and by_task["fail-task"]["unknown_cost_runs"] == 0
        assert by_task["timeout-task"]["unknown_cost_runs"] == 1 and by_task["timeout-task"]["spend_usd"] == 0
        assert by_task["busy-task"]["spend_usd"] == 0 and by_task["busy-task"]["unknown_cost_runs"] == 0
        totals = report["totals"]
        assert totals["runs"] == 4 and totals["unknown_cost_runs"] == 1
        assert close(totals["spend_usd"], CLAUDE_RUN_USD)


def test_runs_from_concurrent_processes_all_land_in_the_ledger(state_dir, workspace):
    env = run_env(state_dir, workspace, SUPER_AGENT_SLOTS="16")
    procs = [subprocess.Popen([binary(), "run", "--task", "parallel", "--prompt", "SLEEP 0.3"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(8)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err[-2000:]
        results.append(json.loads(out))
    assert all(r["status"] == "OK" for r in results)
    assert len({r["run_id"] for r in results}) == 8

    report = costs_json(state_dir, "--by", "task")
    assert report["totals"]["runs"] == 8, report
    assert close(report["totals"]["spend_usd"], 8 * CLAUDE_RUN_USD)
    assert {r["run_id"] for r in ledger_rows(state_dir)} == {r["run_id"] for r in results}


def test_a_refuse_budget_allows_the_crossing_run_and_refuses_the_next(state_dir, workspace):
    config = write_config(state_dir, {"budgets": {"default": {"daily_usd": 0.003, "on_exceed": "refuse"}}})
    seen = [cli_run(state_dir, workspace, "budgeted", "hello", SUPER_AGENT_CONFIG=config) for _ in range(3)]
    # Run 1 (spent $0) and run 2 (spent $0.0021, crosses $0.003) run; run 3 (spent $0.0042) is refused.
    assert [(code, r["status"]) for code, r in seen] == [(0, "OK"), (0, "OK"), (1, "BUDGET_EXCEEDED")]
    refused = seen[2][1]
    assert "daily budget" in refused["message"] and refused["output"] == ""
    rows = ledger_rows(state_dir)
    assert [r["status"] for r in rows] == ["OK", "OK", "BUDGET_EXCEEDED"]
    assert rows[2]["cost_usd"] == 0 and rows[2]["cost_source"] == "not_run"
    report = costs_json(state_dir, "--by", "agent", SUPER_AGENT_CONFIG=config)
    assert report["totals"]["runs"] == 3 and close(report["totals"]["spend_usd"], 2 * CLAUDE_RUN_USD)


def test_a_downgrade_budget_moves_the_next_run_to_the_cheap_tier(state_dir, workspace):
    config = write_config(state_dir, {"budgets": {"default": {"daily_usd": 0.003, "on_exceed": "downgrade"}}})
    seen = [cli_run(state_dir, workspace, "design-api", "hello", SUPER_AGENT_CONFIG=config) for _ in range(3)]
    assert [code for code, _ in seen] == [0, 0, 0], seen
    assert [(r["adapter"], r["model"], r["rule"]) for _, r in seen[:2]] == [("claude", "sonnet", "default")] * 2
    third = seen[2][1]
    assert third["status"] == "OK", third
    assert (third["adapter"], third["model"], third["tier"], third["rule"]) == (
        "gemini", "gemini-2.5-flash-lite", "cheap", "budget-downgrade")
    assert "model=gemini-2.5-flash-lite" in third["output"]  # the cheap model reached the CLI
    assert "downgraded to the cheap tier" in third["message"]
    assert third["details"]["cost_source"] == "computed" and close(third["cost_usd"], GEMINI_HELLO_USD)
    row = ledger_rows(state_dir)[2]
    assert (row["adapter"], row["model"], row["tier"], row["rule"]) == ("gemini", "gemini-2.5-flash-lite", "cheap", "budget-downgrade")


def test_cost_report_tool_matches_the_costs_command(state_dir, workspace, raw):
    assert cli_run(state_dir, workspace, "ok-task", "hello")[0] == 0
    assert cli_run(state_dir, workspace, "ok-task", "hello")[0] == 0
    assert cli_run(state_dir, workspace, "fail-task", "FAIL")[0] == 1
    assert cli_run(state_dir, workspace, "summarize-x", "hello")[1]["adapter"] == "gemini"

    command = costs_json(state_dir, "--by", "task", "--since", "1d")
    srv = raw(PATH=fake_path())
    srv.initialize()
    r = srv.call("tools/call", {"name": "cost_report", "arguments": {"by": "task", "since": "1d"}})["result"]
    assert r.get("isError") is not True, r
    tool = r["structuredContent"]
    assert tool["by"] == "task"
    assert tool["rows"] == command["rows"]
    assert tool["totals"] == command["totals"]
    assert tool["totals"]["runs"] == 4
    assert close(tool["totals"]["spend_usd"], round(2 * CLAUDE_RUN_USD + GEMINI_HELLO_USD, 6))


def test_an_unwritable_ledger_still_returns_the_run_and_skips_the_budget(state_dir, workspace):
    # A directory where the ledger file should be: SQLite can neither read nor write it.
    Path(state_dir, "ledger.sqlite3").mkdir()
    config = write_config(state_dir, {"budgets": {"default": {"daily_usd": 0, "on_exceed": "refuse"}}})
    out = subprocess.run([binary(), "run", "--task", "t", "--prompt", "hello", "--log-level", "warning"],
                         env=run_env(state_dir, workspace, SUPER_AGENT_CONFIG=config), capture_output=True, timeout=30)
    # A zero budget would refuse, but an unreadable ledger fails open; the failed write loses nothing.
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout)
    assert result["status"] == "OK" and close(result["cost_usd"], CLAUDE_RUN_USD)
    log = [json.loads(line) for line in out.stderr.splitlines() if line.startswith(b"{")]
    messages = {e["message"] for e in log}
    assert "ledger unreadable; budget not checked" in messages
    assert "ledger write failed; the run's result is still returned" in messages
