"""Reference server for the benchmark: super-agent's delegation tools on the official Python MCP SDK.

Built on the SDK's high-level server (`MCPServer`, mcp 2.3.0), run over stdio exactly as the SDK's
documentation shows. It is meant to be a fair, idiomatic reference, not a straw man:

- the same 11-agent org chart as super-agent's built-in default config;
- the same delegation order (yourself -> a direct report -> a sibling -> spawn a pool worker), the same
  priority ceilings (low < 50% busy, normal < 75%, high/critical any free slot), capacity reports that
  expire after a TTL, and loop prevention through `delegation_chain` / max_hops;
- the same result shape: {success, agent_id, should_delegate, action, delegate_to, reason}.

Capacity reports live in memory (one process), which is *less* work per call than super-agent's
default SQLite store shared by every process on the host. The tools are `async def`, the faster
choice on this SDK (see below).

Run: ROLE_ID=cto python bench/python_server.py
"""

from __future__ import annotations

import os
import time
from typing import Any

from mcp.server.mcpserver import MCPServer

# id -> (reports_to, max_concurrent); the same chart as super-agent's DefaultConfig.
AGENTS: dict[str, tuple[str | None, int]] = {
    "ceo": (None, 2),
    "cto": ("ceo", 3),
    "cfo": ("ceo", 2),
    "cso": ("ceo", 2),
    "marketing": ("ceo", 3),
    "investment": ("ceo", 2),
    "org-agent": ("ceo", 2),
    "architect": ("cto", 3),
    "devops": ("cto", 3),
    "fullstack": ("cto", 3),
    "zidevops-director": ("devops", 3),
}
REPORTS: dict[str, list[str]] = {}
for _id, (_manager, _) in AGENTS.items():
    if _manager is not None:
        REPORTS.setdefault(_manager, []).append(_id)
for _list in REPORTS.values():
    _list.sort()

CEILING = {"low": 0.5, "normal": 0.75, "high": 1.0, "critical": 1.0}
CEILING_TEXT = {
    "low": "low priority needs an agent under 50% busy",
    "normal": "normal priority needs an agent under 75% busy",
    "high": "high priority takes any free slot",
    "critical": "critical priority takes any free slot",
}
TTL_S = float(os.environ.get("SUPER_AGENT_CAPACITY_TTL_S", "600"))
MAX_HOPS = int(os.environ.get("SUPER_AGENT_MAX_HOPS", "3"))
ROLE_ID = os.environ.get("ROLE_ID")

# agent id -> (active, max, reported_at)
_reports: dict[str, tuple[int, int, float]] = {}


def _siblings(agent_id: str) -> list[str]:
    manager = AGENTS[agent_id][0]
    if manager is None:
        return []
    return [a for a in REPORTS.get(manager, []) if a != agent_id]


def _fresh_loads() -> dict[str, tuple[int, int]]:
    cutoff = time.time() - TTL_S
    return {a: (act, mx) for a, (act, mx, at) in _reports.items() if at >= cutoff}


def _fits(load: tuple[int, int], priority: str) -> bool:
    active, mx = load
    free = max(0, mx - active)
    return free >= 1 and (active / mx if mx > 0 else 1.0) < CEILING[priority]


def _role_problem() -> str | None:
    if ROLE_ID in AGENTS:
        return None
    what = f'ROLE_ID "{ROLE_ID}" is not in the org chart' if ROLE_ID else "ROLE_ID is not set"
    return f"{what}; set it to one of: {', '.join(sorted(AGENTS))}"


mcp = MCPServer(
    name="super-agent-python",
    instructions="Reference implementation of super-agent's delegation tools on the Python MCP SDK.",
)


# The tools are `async def`: they never block, and the SDK runs a plain `def` tool in a worker thread
# (anyio.to_thread), which costs the reference about 5-20% of its call rate for nothing.
@mcp.tool()
async def should_i_delegate(task_priority: str = "normal", delegation_chain: list[str] | None = None) -> dict[str, Any]:
    """Decide whether to do a task yourself or hand it off: yourself, a direct report, a sibling, or a pool worker."""
    problem = _role_problem()
    if problem:
        raise ValueError(problem)
    caller = ROLE_ID
    assert caller is not None
    priority = task_priority if task_priority in CEILING else "normal"
    chain = list(delegation_chain or [])

    def answer(action: str, target: str | None, reason: str) -> dict[str, Any]:
        return {
            "success": True,
            "agent_id": caller,
            "should_delegate": action != "do_it_yourself",
            "action": action,
            "delegate_to": target,
            "reason": reason,
        }

    if len(chain) >= MAX_HOPS:
        return answer(
            "spawn_worker",
            None,
            f"the task has already passed through {len(chain)} agent(s) ({' -> '.join(chain)}); "
            f"max_hops is {MAX_HOPS}, so spawn a pool worker instead of delegating again",
        )
    loads = _fresh_loads()
    mine = loads.get(caller)
    if mine is not None and _fits(mine, priority):
        return answer(
            "do_it_yourself", None, f"you have {max(0, mine[1] - mine[0])} of {mine[1]} slots free; {CEILING_TEXT[priority]}"
        )
    if mine is not None:
        note = f"you are at {mine[0]}/{mine[1]} ({CEILING_TEXT[priority]})"
    else:
        note = "you have no fresh capacity report (call report_capacity)"
    excluded = set(chain) | {caller}

    def best(ids: list[str]) -> tuple[str, tuple[int, int]] | None:
        candidates = [(a, loads[a]) for a in ids if a not in excluded and a in loads and _fits(loads[a], priority)]
        if not candidates:
            return None
        return min(candidates, key=lambda c: (-max(0, c[1][1] - c[1][0]), c[0]))

    reports = REPORTS.get(caller, [])
    siblings = _siblings(caller)
    if found := best(reports):
        a, (act, mx) = found
        return answer("delegate_to_report", a, f"{note}; your report {a} has {max(0, mx - act)} of {mx} slots free")
    if found := best(siblings):
        a, (act, mx) = found
        return answer(
            "delegate_to_sibling", a, f"{note}; no report has room; your sibling {a} has {max(0, mx - act)} of {mx} slots free"
        )
    return answer(
        "spawn_worker",
        None,
        f"{note}; none of your {len(reports)} report(s) or {len(siblings)} sibling(s) has room for {priority} work "
        "(agents without a fresh report count as unavailable); spawn a pool worker",
    )


@mcp.tool()
async def report_capacity(active_tasks: int, max_tasks: int | None = None) -> dict[str, Any]:
    """Publish how many tasks you are working on, so teammates' delegation tools can route work to you."""
    problem = _role_problem()
    if problem:
        raise ValueError(problem)
    caller = ROLE_ID
    assert caller is not None
    mx = max_tasks if max_tasks is not None else AGENTS[caller][1]
    if active_tasks < 0:
        raise ValueError(f"active_tasks must be 0 or more, got {active_tasks}")
    if mx < 1:
        raise ValueError(f"max_tasks must be at least 1, got {mx}")
    _reports[caller] = (active_tasks, mx, time.time())
    return {
        "success": True,
        "agent_id": caller,
        "active_tasks": active_tasks,
        "max_tasks": mx,
        "free": max(0, mx - active_tasks),
        "expires_in_s": TTL_S,
    }


if __name__ == "__main__":
    mcp.run()  # stdio
