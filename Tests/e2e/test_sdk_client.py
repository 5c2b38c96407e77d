"""End to end through the official Python MCP SDK client, in legacy mode and in its default auto mode
(which probes server/discover and then speaks 2026-07-28). Every server line is captured by a tap and
validated against the SDK's wire types."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

from conftest import binary, server_env
from wire import WireLog

TAP = str(Path(__file__).parent / "tap.py")
DELEGATION_TOOLS = {"should_i_delegate", "get_delegation_recommendation", "report_capacity"}
RUN_TOOLS = {"super_agent_run", "super_agent_status", "super_agent_result", "super_agent_cancel"}


def params(state_dir: str, tap_file: str, role: str = "cto") -> StdioServerParameters:
    env = server_env(state_dir, role, WIRE_TAP=tap_file)
    return StdioServerParameters(command=sys.executable, args=[TAP, binary(), "mcp"], env=env)


def validate_tap(tap_file: str) -> int:
    wire = WireLog()
    for raw in Path(tap_file).read_bytes().splitlines():
        tag, _, line = raw.partition(b" ")
        if tag == b"C":
            wire.client_line(line)
        else:
            wire.server_line(line)
    return wire.validated


@pytest.mark.parametrize("mode,version", [("legacy", "2025-11-25"), ("auto", "2026-07-28")])
def test_sdk_client_lists_and_calls_the_three_tools(state_dir, tmp_path, mode, version):
    tap = str(tmp_path / "wire.log")
    logs: list = []

    async def on_log(params) -> None:
        logs.append(params)

    async def scenario():
        async with Client(
            params(state_dir, tap), mode=mode, logging_callback=on_log, log_level="debug" if mode == "auto" else None
        ) as client:
            assert client.protocol_version == version
            if mode == "legacy":
                await client.set_logging_level("debug")
            listed = await client.list_tools()
            tools = {t.name: t for t in listed.tools}
            assert set(tools) == DELEGATION_TOOLS | RUN_TOOLS | {"cost_report"}
            for name in ("should_i_delegate", "get_delegation_recommendation"):
                ann = tools[name].annotations
                assert ann.read_only_hint is True and ann.idempotent_hint is True
                assert tools[name].input_schema["additionalProperties"] is False
                assert tools[name].output_schema["type"] == "object"
            assert tools["report_capacity"].annotations.read_only_hint is False

            reported = await client.call_tool("report_capacity", {"active_tasks": 1, "max_tasks": 3})
            assert not reported.is_error
            assert reported.structured_content["free"] == 2

            decision = await client.call_tool("should_i_delegate", {"task_priority": "normal"})
            assert not decision.is_error
            sc = decision.structured_content
            assert sc["action"] == "do_it_yourself" and sc["should_delegate"] is False and sc["agent_id"] == "cto"
            assert decision.content[0].type == "text" and '"do_it_yourself"' in decision.content[0].text

            rec = await client.call_tool("get_delegation_recommendation", {"task_priority": "high"})
            assert rec.structured_content["spawn_worker"] is True
            assert rec.structured_content["delegate_to"] is None

            bad = await client.call_tool("should_i_delegate", {"task_priority": "urgent"})
            assert bad.is_error
            assert "task_priority" in bad.content[0].text and "critical" in bad.content[0].text

    anyio.run(scenario)
    assert validate_tap(tap) >= 6
    assert any("should_i_delegate" in str(p.data) for p in logs), "debug log notifications were requested"


def test_two_agents_on_one_host_see_each_others_load(state_dir, tmp_path):
    """Eleven agents' servers on one host share the SQLite capacity store in the state dir."""
    tap = str(tmp_path / "wire.log")

    async def scenario():
        async with Client(params(state_dir, tap, role="devops"), mode="legacy") as devops:
            r = await devops.call_tool("report_capacity", {"active_tasks": 0})
            assert not r.is_error
        async with Client(params(state_dir, tap, role="architect"), mode="auto") as architect:
            r = await architect.call_tool("report_capacity", {"active_tasks": 2, "max_tasks": 3})
            assert not r.is_error
        async with Client(params(state_dir, tap, role="cto"), mode="auto") as cto:
            rec = await cto.call_tool("get_delegation_recommendation", {})
            assert rec.structured_content["delegate_to"] == "devops"
            assert rec.structured_content["relationship"] == "report"
            assert rec.structured_content["target_capacity"] == {"active": 0, "max": 3, "free": 3}
            chained = await cto.call_tool("get_delegation_recommendation", {"delegation_chain": ["devops"]})
            assert chained.structured_content["delegate_to"] != "devops"
        async with Client(params(state_dir, tap, role="fullstack"), mode="auto") as fullstack:
            d = await fullstack.call_tool("should_i_delegate", {"task_priority": "high"})
            assert d.structured_content["action"] == "delegate_to_sibling"
            assert d.structured_content["delegate_to"] == "devops"

    anyio.run(scenario)
    assert validate_tap(tap) > 0


def test_unknown_role_is_a_tool_error_listing_known_ids(state_dir, tmp_path):
    tap = str(tmp_path / "wire.log")

    async def scenario():
        async with Client(params(state_dir, tap, role="janitor"), mode="auto") as client:
            r = await client.call_tool("should_i_delegate", {})
            assert r.is_error
            text = r.content[0].text
            assert "janitor" in text and "zidevops-director" in text and "ceo" in text

    anyio.run(scenario)
    assert validate_tap(tap) > 0
