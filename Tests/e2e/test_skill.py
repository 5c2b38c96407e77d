"""skills/super-agent-skill.md against the real server: every tool, parameter, status, enum value and
model the skill names must be one `super-agent mcp` actually offers (tools/list over real pipes, and
`mcp --print-config` for the adapters' models).

The checker is `skill_problems(text, catalog)`; it runs on the real skill (must find nothing) and on
mutated copies (must find the planted mistake), so its strictness is itself tested.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field

import jsonschema
import pytest
import yaml

from conftest import ROOT, RawServer, binary, server_env

SKILL = ROOT / "skills" / "super-agent-skill.md"

# The tools the skill exists to teach; each must be both offered by the server and covered.
REQUIRED_TOOLS = {
    "should_i_delegate", "get_delegation_recommendation", "report_capacity",
    "super_agent_run", "super_agent_status", "super_agent_result", "super_agent_cancel",
}
# Topics the issue asks the skill to cover, as the exact backticked terms it must use.
REQUIRED_TERMS = {
    "delegation_chain", "max_hops", "task_priority", "prompt_text", "prompt_file", "caller_cwd", "cwd_mode",
    "model_hint", "wait", "wait_s", "retry_after_ms", "fallback", "inline", "isolated", "caller", "POOL_BUSY",
    "POOL_UNREACHABLE", "REJECTED", "RUNNING", "..", "gemini-2.5-flash-lite", "haiku", "sonnet", "opus",
    "gemini-2.5-pro",
}
JSON_LITERALS = {"true", "false", "null"}


@dataclass
class Catalog:
    """What the server offers, as seen over MCP."""

    tools: dict[str, dict]
    server_name: str
    models: dict[str, list[str]]  # adapter -> allowed models (empty: any)
    env_names: set[str]
    inputs: dict[str, list[dict]] = field(default_factory=dict)  # property -> its schemas (input)
    outputs: dict[str, list[dict]] = field(default_factory=dict)  # property -> its schemas (output)
    vocabulary: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        for tool in self.tools.values():
            for key, bucket in (("inputSchema", self.inputs), ("outputSchema", self.outputs)):
                for name, schema in properties(tool.get(key, {})):
                    bucket.setdefault(name, []).append(schema)
        words = set(self.tools) | set(self.inputs) | set(self.outputs) | JSON_LITERALS | {self.server_name}
        words |= set(self.models) | {m for ms in self.models.values() for m in ms} | self.env_names
        for schemas in [*self.inputs.values(), *self.outputs.values()]:
            for s in schemas:
                words |= {str(v) for v in s.get("enum", []) if v is not None}
        # Words the server's own descriptions use (e.g. max_hops, max_concurrent, task labels).
        for tool in self.tools.values():
            texts = [tool.get("description", "")]
            texts += [s.get("description", "") for _, s in properties(tool.get("inputSchema", {}))]
            for t in texts:
                found = re.findall(r"[A-Za-z0-9_.-]+", t)
                words |= set(found) | {w.rstrip(".-") for w in found}
        self.vocabulary = words

    def enum_values(self, prop: str) -> set[str] | None:
        """The values a property may take when they are a closed set (an enum, or a boolean)."""
        schemas = self.inputs.get(prop, []) + self.outputs.get(prop, [])
        values = {str(v) for s in schemas for v in s.get("enum", []) if v is not None}
        if any(s.get("type") == "boolean" for s in schemas):
            values |= {"true", "false"}
        return values or None

    def is_property(self, word: str) -> bool:
        return word in self.inputs or word in self.outputs


def properties(schema: dict):
    """(name, schema) for every property, nested ones included."""
    for name, sub in schema.get("properties", {}).items():
        yield name, sub
        yield from properties(sub)
        for alt in sub.get("anyOf", []):
            yield from properties(alt)


# --- the server ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> Catalog:
    state = str(tmp_path_factory.mktemp("skill-state"))

    srv = RawServer(server_env(state, "cto"))
    try:
        init = srv.initialize()
        tools: dict[str, dict] = {}
        cursor = None
        while True:
            r = srv.call("tools/list", {"cursor": cursor} if cursor else {})
            for t in r["result"]["tools"]:
                tools[t["name"]] = t
            cursor = r["result"].get("nextCursor")
            if not cursor:
                break
    finally:
        srv.close()
    env = {"PATH": "/usr/bin:/bin", "HOME": state, "SUPER_AGENT_STATE_DIR": state}
    out = subprocess.run([binary(), "mcp", "--print-config"], capture_output=True, text=True, env=env, timeout=30)
    assert out.returncode == 0, out.stderr
    adapters = json.loads(out.stdout)["adapters"]
    helps = "".join(
        subprocess.run([binary(), *c, "--help"], capture_output=True, text=True, env=env, timeout=30).stdout
        for c in (["mcp"], ["pool"], ["run"])
    )
    return Catalog(
        tools=tools,
        server_name=init["result"]["serverInfo"]["name"],
        models={name: a["models"] for name, a in adapters.items()},
        env_names=set(re.findall(r"\b(SUPER_AGENT_[A-Z0-9_]+|ROLE_ID)\b", helps)),
    )


# --- the checker -------------------------------------------------------------------------------


def split_front_matter(text: str) -> tuple[dict, str]:
    m = re.match(r"---\n(.*?)\n---\n", text, re.S)
    assert m, "the skill must start with a --- front-matter block"
    return yaml.safe_load(m.group(1)), text[m.end():]


def inline_code(body: str) -> list[tuple[int, str]]:
    """(line number, text) of every inline `code` span outside fenced blocks."""
    spans, fenced = [], False
    for n, line in enumerate(body.splitlines(), 1):
        if line.strip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            spans += [(n, s) for s in re.findall(r"`([^`\n]+)`", line)]
    return spans


def lines_outside_fences(body: str) -> list[tuple[int, str]]:
    out, fenced = [], False
    for n, line in enumerate(body.splitlines(), 1):
        if line.strip().startswith("```"):
            fenced = not fenced
        elif not fenced:
            out.append((n, line))
    return out


def calls(body: str) -> list[tuple[str, str]]:
    """(tool, argument text) for every `name(...)` with balanced parentheses, anywhere in the body."""
    found = []
    for m in re.finditer(r"\b([a-z][a-z0-9]*(?:_[a-z0-9]+)+)\(", body):
        depth, i, in_string = 1, m.end(), False
        while i < len(body) and depth:
            ch = body[i]
            if in_string:
                if ch == "\\":
                    i += 1
                elif ch == '"':
                    in_string = False
            elif ch == '"':
                in_string = True
            elif ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
            i += 1
        assert depth == 0, f"unbalanced call {m.group(0)}..."
        found.append((m.group(1), body[m.end(): i - 1].strip()))
    return found


def parse_value(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return text.strip("\"'")


def check_call(tool: str, args: str, catalog: Catalog) -> list[str]:
    if tool not in catalog.tools:
        return [f"{tool}(...) calls a tool the server does not offer"]
    schema = catalog.tools[tool]["inputSchema"]
    props = schema.get("properties", {})
    problems = []
    if args.startswith("{"):
        try:
            value = json.loads(args)
        except ValueError as e:
            return [f"{tool}({args[:40]}...): not valid JSON ({e})"]
        for error in jsonschema.Draft202012Validator(schema).iter_errors(value):
            problems.append(f"{tool}: example arguments invalid: {error.message}")
        model = value.get("model_hint")
        if model is not None:
            problems += check_model(value.get("adapter", "claude"), model, catalog, where=f"{tool} example")
        return problems
    for part in [p.strip() for p in args.split(",") if p.strip()]:
        name, eq, raw_value = part.partition("=")
        name = name.strip()
        if name not in props:
            problems.append(f"{tool}: no parameter {name!r} (has {sorted(props)})")
        elif eq:
            for error in jsonschema.Draft202012Validator(props[name]).iter_errors(parse_value(raw_value.strip())):
                problems.append(f"{tool}: {name}={raw_value.strip()}: {error.message}")
    return problems


def check_model(adapter: str, model: str, catalog: Catalog, where: str) -> list[str]:
    allowed = catalog.models.get(adapter)
    if allowed is None:
        return [f"{where}: unknown adapter {adapter!r}"]
    if allowed and model not in allowed:
        return [f"{where}: model {model!r} is not allowed for adapter {adapter} ({allowed})"]
    return []


IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def skill_problems(text: str, catalog: Catalog) -> list[str]:
    problems: list[str] = []
    try:
        meta, body = split_front_matter(text)
    except AssertionError as e:
        return [str(e)]
    # Front matter as Claude skills want it.
    if not isinstance(meta, dict) or set(meta) - {"name", "description", "license", "allowed-tools"}:
        problems.append(f"front matter: unexpected keys {meta!r}")
    else:
        if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", str(meta.get("name", ""))) or len(meta["name"]) > 64:
            problems.append("front matter: name must be lowercase words joined by hyphens, at most 64 characters")
        description = str(meta.get("description", ""))
        if not (20 <= len(description) <= 1024):
            problems.append("front matter: description must be 20-1024 characters")
        for tool in re.findall(r"\b[a-z]+(?:_[a-z0-9]+)+\b", description):
            if tool not in catalog.vocabulary:
                problems.append(f"front matter names {tool!r}, which the server does not know")

    # 1. Call examples: the tool exists; each parameter exists; values satisfy the schema.
    for tool, args in calls(body):
        problems += check_call(tool, args, catalog)

    # 2. Every inline identifier is something the server knows.
    for line, span in inline_code(body):
        token = span.strip()
        if "(" in token:
            continue  # a call, checked above
        m = re.fullmatch(r"([a-z_]+)\s*[:=]\s*(.+)", token)
        if m and catalog.is_property(m.group(1)):
            prop, value = m.group(1), parse_value(m.group(2))
            allowed = catalog.enum_values(prop)
            if allowed is not None and str(value) not in allowed:
                problems.append(f"line {line}: {prop} = {value!r} is not one of {sorted(allowed)}")
            continue
        if not IDENTIFIER.match(token):
            continue  # a path, a literal like `..`, prose
        if token.startswith("super_agent_") and token not in catalog.tools:
            problems.append(f"line {line}: `{token}` looks like a tool but the server has no such tool")
        elif token not in catalog.vocabulary:
            problems.append(f"line {line}: `{token}` is not a tool, parameter, field, value or model the server knows")

    # 3. Enum values quoted after an enum-valued name on the same line: `cwd_mode` `caller`,
    #    "`adapter`: `claude`, `gemini`", "`task_priority` is `low`, `normal`…".
    for line, text_line in lines_outside_fences(body):
        tokens = re.findall(r"`([^`\n]+)`", text_line)
        current: set[str] | None = None
        current_prop = ""
        for token in tokens:
            if catalog.is_property(token) or token in catalog.tools:
                current, current_prop = catalog.enum_values(token), token
                continue
            if current is not None and IDENTIFIER.match(token) and token not in current:
                problems.append(f"line {line}: `{token}` is not a value of {current_prop} ({sorted(current)})")
    return problems


# --- tests ---------------------------------------------------------------------------------------


def test_skill_names_only_real_tools_parameters_and_values(catalog):
    problems = skill_problems(SKILL.read_text(), catalog)
    assert not problems, "\n".join(problems)


def test_skill_front_matter(catalog):
    meta, _ = split_front_matter(SKILL.read_text())
    assert meta["name"] == catalog.server_name
    assert "delegate" in meta["description"] and "pool" in meta["description"]


def test_skill_covers_every_tool_and_topic(catalog):
    _, body = split_front_matter(SKILL.read_text())
    spans = {s.strip() for _, s in inline_code(body)}
    called = {tool for tool, _ in calls(body)}
    assert REQUIRED_TOOLS <= set(catalog.tools), f"server lacks {REQUIRED_TOOLS - set(catalog.tools)}"
    missing_tools = REQUIRED_TOOLS - called
    assert not missing_tools, f"the skill shows no call example for {sorted(missing_tools)}"
    missing = REQUIRED_TERMS - spans
    assert not missing, f"the skill never mentions {sorted(missing)}"
    # Every run status is explained.
    statuses = {s for t in ("super_agent_run",) for s in catalog.tools[t]["outputSchema"]["properties"]["status"]["enum"]}
    assert statuses <= spans, f"statuses not explained: {sorted(statuses - spans)}"
    # Every delegation action and every adapter is named.
    actions = set(catalog.tools["should_i_delegate"]["outputSchema"]["properties"]["action"]["enum"])
    assert actions <= spans, f"actions not explained: {sorted(actions - spans)}"
    adapters = set(catalog.tools["super_agent_run"]["inputSchema"]["properties"]["adapter"]["enum"])
    assert adapters <= spans
    # The order: yourself, report, sibling, pool.
    order = [body.index(f"`{a}`") for a in ("do_it_yourself", "delegate_to_report", "delegate_to_sibling", "spawn_worker")]
    assert order == sorted(order)
    # Never a hot loop, stateless runs, path escapes.
    lowered = body.lower()
    for phrase in ("never resubmit immediately", "stateless", "symlink", "absolute path", "escalate"):
        assert phrase in lowered, f"the skill does not say {phrase!r}"


def test_every_example_uses_a_model_its_adapter_allows(catalog):
    _, body = split_front_matter(SKILL.read_text())
    examples = [json.loads(args) for tool, args in calls(body) if tool == "super_agent_run" and args.startswith("{")]
    assert len(examples) >= 4
    hinted = [e for e in examples if "model_hint" in e]
    assert hinted, "no example shows model_hint"
    for e in hinted:
        assert not check_model(e.get("adapter", "claude"), e["model_hint"], catalog, "example")
    # The cheap/frontier table's models all belong to an adapter.
    table = [line for line in body.splitlines() if line.startswith("|") and "model_hint" not in line]
    all_models = {m for ms in catalog.models.values() for m in ms}
    quoted = {t for line in table for t in re.findall(r"`([a-z0-9.-]+)`", line)} - set(catalog.models)
    assert {"gemini-2.5-flash-lite", "haiku", "sonnet", "opus", "gemini-2.5-pro"} <= quoted & all_models


MUTATIONS = [
    # (what is planted, replacement of the first `old` with `new`, expected fragment of a problem)
    ("a nonexistent tool in a call", "report_capacity({\"active_tasks\": 2})",
     "super_agent_frobnicate({\"active_tasks\": 2})", "super_agent_frobnicate(...) calls a tool"),
    ("a nonexistent tool in prose", "use `get_delegation_recommendation` with",
     "use `super_agent_delegate` with", "`super_agent_delegate` looks like a tool"),
    ("a nonexistent parameter in a call", "\"timeout_s\": 300}", "\"timeout_seconds\": 300}",
     "Additional properties are not allowed ('timeout_seconds'"),
    ("a nonexistent parameter in a bare call", "super_agent_result({\"run_id\": \"run-0123456789abcdef\", \"wait_s\": 120})",
     "super_agent_result(run_id, wait_seconds)", "no parameter 'wait_seconds'"),
    ("a nonexistent parameter in prose", "- `caller_cwd`: required with", "- `caller_dir`: required with",
     "`caller_dir` is not a tool, parameter"),
    ("a bad adapter in a call", "\"adapter\": \"gemini\", \"model_hint\": \"gemini-2.5-flash-lite\", \"timeout_s\"",
     "\"adapter\": \"llama\", \"model_hint\": \"gemini-2.5-flash-lite\", \"timeout_s\"", "'llama' is not one of"),
    ("a bad cwd_mode in prose", "with `cwd_mode` `caller` |", "with `cwd_mode` `shared` |",
     "`shared` is not a value of cwd_mode"),
    ("a bad task_priority in prose", "`normal` (default), `high` or `critical`", "`normal` (default), `urgent` or `critical`",
     "`urgent` is not a value of task_priority"),
    ("a bad task_priority in a call", "{\"task_priority\": \"normal\",", "{\"task_priority\": \"urgent\",",
     "'urgent' is not one of"),
    ("a model the adapter does not allow", "\"adapter\": \"claude\", \"model_hint\": \"haiku\"",
     "\"adapter\": \"claude\", \"model_hint\": \"gemini-2.5-pro\"", "is not allowed for adapter claude"),
    ("a nonexistent status", "| `POOL_DRAINING` |", "| `POOL_PAUSED` |", "`POOL_PAUSED` is not"),
]


@pytest.mark.parametrize("what,old,new,expected", MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_the_checker_catches_a_planted_mistake(catalog, what, old, new, expected):
    text = SKILL.read_text()
    assert old in text, f"mutation anchor for {what!r} not found; update MUTATIONS"
    problems = skill_problems(text.replace(old, new, 1), catalog)
    assert any(expected in p for p in problems), f"{what}: not caught; problems were {problems}"
