"""`super-agent costs` end to end: a ledger written with sqlite3, read by the real binary."""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import subprocess
import time
from pathlib import Path

from conftest import binary

# The ledger's table as SQLiteLedger creates it (Sources/SQLiteStores/SQLiteLedger.swift).
SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger (
    run_id TEXT PRIMARY KEY, agent TEXT NOT NULL, task TEXT NOT NULL, adapter TEXT NOT NULL, model TEXT, tier TEXT,
    rule TEXT NOT NULL, status TEXT NOT NULL, input_tokens INTEGER, output_tokens INTEGER, cache_read_tokens INTEGER,
    cache_write_tokens INTEGER, cost_usd REAL, cost_source TEXT NOT NULL, duration_ms INTEGER NOT NULL, pod TEXT,
    at REAL NOT NULL
);
"""

HOUR = 3600.0


def write_ledger(state_dir: str, now: float) -> None:
    """Five recent runs (the CostReportTests fixture) and one run 30 days old."""
    db = sqlite3.connect(os.path.join(state_dir, "ledger.sqlite3"))
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(SCHEMA)
    rows = [
        ("r1", "cto", "summarize-logs", "gemini", "gemini-2.5-flash-lite", "cheap", "task:summarize*", "OK",
         100_000, 10_000, None, None, 0.014, "computed", 900, "local", now - 5 * HOUR),
        ("r2", "cto", "design-api", "claude", "sonnet", "standard", "default", "OK",
         2000, 1000, 10_000, 0, 0.03, "reported", 1200, "local", now - 4 * HOUR),
        ("r3", "fullstack", "design-api", "claude", "opus", "frontier", "hint", "OK",
         1000, 1000, None, None, 0.03, "computed", 1500, "local", now - 3 * HOUR),
        ("r4", "fullstack", "summarize-logs", "gemini", "gemini-2.5-flash-lite", "cheap", "task:summarize*", "FAILED",
         None, None, None, None, None, "unknown", 100, "local", now - 2 * HOUR),
        ("r5", "cfo", "log-triage", "codex", "gpt-9", None, "hint", "OK",
         1000, 100, None, None, None, "unknown", 100, "local", now - 1 * HOUR),
        ("old", "cto", "design-api", "claude", "opus", "frontier", "hint", "OK",
         1, 1, None, None, 99.0, "reported", 1, "local", now - 30 * 24 * HOUR),
    ]
    db.executemany("INSERT INTO ledger VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    db.commit()
    db.close()


def costs(state_dir: str, *args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": state_dir, "SUPER_AGENT_STATE_DIR": state_dir}
    env.update(env_extra or {})
    return subprocess.run([binary(), "costs", *args], capture_output=True, text=True, env=env, timeout=30)


def test_json_report_sums_the_recent_runs(state_dir):
    write_ledger(state_dir, time.time())
    out = costs(state_dir, "--since", "7d", "--by", "agent", "--format", "json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["by"] == "agent"
    assert [r["key"] for r in report["rows"]] == ["cto", "fullstack", "cfo"]
    totals = report["totals"]
    assert totals["runs"] == 5  # the 30-day-old run is outside the window
    assert totals["input_tokens"] == 104_000
    assert totals["output_tokens"] == 12_100
    assert abs(totals["spend_usd"] - 0.074) < 1e-9
    assert totals["unknown_cost_runs"] == 2
    assert abs(totals["saving_usd"] - 0.221) < 1e-9
    assert totals["compared_runs"] == 3


def test_table_is_aligned_with_totals(state_dir):
    write_ledger(state_dir, time.time())
    out = costs(state_dir, "--by", "model")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("Costs by model, runs since ")
    header = next(i for i, line in enumerate(lines) if line.startswith("MODEL"))
    body = lines[header + 1 : header + 5]
    assert [line.split()[0] for line in body] == ["claude/opus", "claude/sonnet", "gemini/gemini-2.5-flash-lite", "codex/gpt-9"]
    # Right-aligned numeric columns end at the same offset as their header.
    spend_end = lines[header].index("SPEND") + len("SPEND")
    for line in body:
        assert line[spend_end - 1] != " ", line
    assert lines[header + 5].startswith("-----")
    total = lines[header + 6].split()
    assert total[:2] == ["TOTAL", "5"] and "$0.074" in total and "$0.22" in total
    assert "2 run(s) of unknown cost" in out.stdout


def test_csv_and_since_all_include_old_runs(state_dir):
    write_ledger(state_dir, time.time())
    out = costs(state_dir, "--since", "all", "--by", "day", "--format", "csv")
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert rows[-1]["day"] == "TOTAL"
    assert rows[-1]["runs"] == "6"
    assert float(rows[-1]["spend_usd"]) == 99.074
    assert len(rows) >= 3  # the old day plus at least one recent day, then TOTAL


def test_missing_ledger_reports_nothing_and_creates_nothing(state_dir):
    out = costs(state_dir, "--format", "json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["totals"]["runs"] == 0
    assert not Path(state_dir, "ledger.sqlite3").exists()


def test_bad_options_are_usage_errors(state_dir):
    out = costs(state_dir, "--since", "yesterday")
    assert out.returncode == 64
    assert "--since" in out.stderr
    out = costs(state_dir, "--by", "color")
    assert out.returncode == 64 and "--by" in out.stderr
    out = costs(state_dir, "--format", "xml")
    assert out.returncode == 64 and "--format" in out.stderr


def test_config_errors_name_the_key(state_dir):
    config = Path(state_dir, "bad.json")
    config.write_text(json.dumps({"routing": {"tiers": {"cheap": {"adapter": "gemini", "model": "gemini-9"}}}}))
    out = costs(state_dir, "--config", str(config))
    assert out.returncode == 78
    assert "routing.tiers.cheap.model" in out.stderr and "gemini-2.5-flash-lite" in out.stderr
    config.write_text(json.dumps({"budgets": {"agents": {"cto": {"daily_usd": -1}}}}))
    out = costs(state_dir, "--config", str(config))
    assert out.returncode == 78 and "budgets.agents.cto.daily_usd" in out.stderr


def test_configured_prices_change_computed_savings(state_dir):
    write_ledger(state_dir, time.time())
    config = Path(state_dir, "prices.json")
    # Doubling gemini-2.5-pro's prices doubles r1's frontier cost: 2 × 0.225 − 0.014 = 0.436.
    config.write_text(json.dumps({"prices": {"gemini-2.5-pro": {"input": 2.5, "output": 20, "as_of": "2026-12-04"}}}))
    out = costs(state_dir, "--config", str(config), "--by", "task", "--format", "json")
    assert out.returncode == 0, out.stderr
    rows = {r["key"]: r for r in json.loads(out.stdout)["rows"]}
    assert abs(rows["summarize-logs"]["saving_usd"] - 0.436) < 1e-9


def test_print_config_shows_the_cost_sections(state_dir):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": state_dir, "SUPER_AGENT_STATE_DIR": state_dir}
    out = subprocess.run([binary(), "mcp", "--print-config"], capture_output=True, text=True, env=env, timeout=30)
    assert out.returncode == 0, out.stderr
    config = json.loads(out.stdout)
    assert config["prices"]["claude-sonnet-4-5"]["output"] == 15
    assert config["prices"]["sonnet"] == {"alias_of": "claude-sonnet-4-5"}
    assert config["routing"]["tiers"]["cheap"] == {"adapter": "gemini", "model": "gemini-2.5-flash-lite"}
    assert config["budgets"]["default"] == {"daily_usd": None, "monthly_usd": None, "on_exceed": "downgrade"}
    # The printed configuration is itself a valid config file.
    path = Path(state_dir, "printed.json")
    path.write_text(out.stdout)
    again = costs(state_dir, "--config", str(path), "--format", "json")
    assert again.returncode == 0, again.stderr
