#!/usr/bin/env python3
"""Overhead of the `super_agent_run` MCP tool with a no-op adapter, against spawning the no-op directly.

The path measured is MCP -> HTTP -> spawn -> result: one `tools/call super_agent_run
{"adapter": "noop"}` written to `super-agent mcp` over a raw pipe, which POSTs the run to a
`super-agent pool` pod on loopback (libcurl -> libmicrohttpd), which takes a slot, makes an isolated
workspace, confines the child with Landlock (the default, `confinement: auto`), fork/execs
`/bin/true`, feeds it the prompt on stdin, reaps it, removes the workspace, and streams the result
back as NDJSON; the MCP answer line is read. The floor is the same no-op spawned directly from this
process (`os.posix_spawn` + `waitpid`, stdio on /dev/null). Overhead = pool p50 - floor p50 (and p99).

  SUPER_AGENT_BIN=/tmp/poolbench-build/release/super-agent .venv/bin/python bench/pool_bench.py [--json out.json]

Rows, every one driven lockstep (one call, its answer, the next), all processes alive at once and
measured in alternating rounds (the order rotates each round) so background load hits all alike:
  floor        os.posix_spawn("/bin/true") + waitpid, stdio on /dev/null            (the floor)
  pool         MCP -> HTTP -> pool (confinement auto) -> spawn -> result            (the target)
  context rows (not targets):
  floor+pipes  the floor with stdin/stdout/stderr pipes (prompt written, outputs read to EOF)
  pool-none    the same as `pool`, with a pool started with `"confinement": "none"`
  embedded     MCP -> in-process pool (no SUPER_AGENT_POOL_URL) -> spawn, confinement auto
  http         POST /v1/runs straight to the pool from here (new connection per run, as the
               MCP process's libcurl does), read to the end: the pool's share without MCP
  mcp-ping     MCP `ping` on the pool-connected `super-agent mcp`: the MCP/pipe share
  cli-run      `super-agent run --adapter noop` with SUPER_AGENT_POOL_URL set (a process per call)

Every answer is parsed after its clock stops and checked (status OK, exit code 0, the pod that was
meant to run it, the confinement); the pool's log must count exactly the runs sent to it.

Target (a report: the exit status is 0 even when the target is missed, 1 when something is broken):
  p50 overhead (pool p50 - floor p50) < 3 ms on loopback.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

from common import BenchError, Children, kill, loadavg, machine_info

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

TARGET_P50_OVERHEAD_MS = 3.0
TOKEN = "pool-bench-token-0123456789abcdef"
NOOP = "/bin/true"

INITIALIZE = (
    b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25",'
    b'"capabilities":{},"clientInfo":{"name":"pool-bench","version":"1"}}}\n'
)
INITIALIZED = b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n'
RUN_PREFIX = b'{"jsonrpc":"2.0","id":'
RUN_SUFFIX = (b',"method":"tools/call","params":{"name":"super_agent_run",'
              b'"arguments":{"task":"noop","prompt_text":"x","adapter":"noop"}}}\n')
PING_SUFFIX = b',"method":"ping"}\n'

# --- children and watchdogs ------------------------------------------------------------------------

CHILDREN = Children(term_grace=3.0)  # a pool drains and exits 0 on SIGTERM


class CallGuard:
    """One watchdog thread for every call: `arm(kill)` before a call, `disarm()` after. A call that
    stays armed longer than `seconds` gets `kill()` run (its blocked read then sees EOF). Arming is an
    attribute store, so the guard costs nothing inside the timed window."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._armed: tuple[float, Callable[[], None]] | None = None
        self.fired: str | None = None
        self._stop = threading.Event()
        threading.Thread(target=self._watch, daemon=True).start()

    def arm(self, kill: Callable[[], None]) -> None:
        self._armed = (time.monotonic(), kill)

    def disarm(self) -> None:
        self._armed = None

    def _watch(self) -> None:
        while not self._stop.wait(0.25):
            armed = self._armed
            if armed is not None and time.monotonic() - armed[0] > self.seconds:
                self.fired = f"a call took longer than {self.seconds:g} s"
                self._armed = None
                try:
                    armed[1]()
                except Exception:  # noqa: BLE001
                    pass

    def stop(self) -> None:
        self._stop.set()


def tail(path: Path, n: int = 2000) -> str:
    try:
        return path.read_bytes()[-n:].decode("utf-8", "replace")
    except OSError:
        return ""


# --- the processes ---------------------------------------------------------------------------------


class Pool:
    """`super-agent pool --listen 127.0.0.1:0`; the port is read from its JSON log (stderr, to a file)."""

    def __init__(self, name: str, bin_path: str, config: Path, work: Path, base_env: dict[str, str], timeout: float):
        self.name = name
        self.pod = f"bench-{name}"
        self.log_path = work / f"{name}.stderr.log"
        state = work / f"{name}-state"
        state.mkdir()
        roots = work / "workspace-root"
        roots.mkdir(exist_ok=True)
        env = dict(base_env, HOME=str(state), SUPER_AGENT_STATE_DIR=str(state), SUPER_AGENT_POOL_TOKEN=TOKEN,
                   SUPER_AGENT_WORKSPACE_ROOTS=str(roots), SUPER_AGENT_POD_NAME=self.pod)
        with open(self.log_path, "wb") as err:
            self.proc = CHILDREN.add(subprocess.Popen(
                [bin_path, "pool", "--listen", "127.0.0.1:0", "--slots", "3", "--config", str(config)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, env=env, cwd=str(work)))
        self.port = self._wait_port(timeout)
        self.url = f"http://127.0.0.1:{self.port}"

    def _wait_port(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for entry in self.log():
                if entry.get("message") == "pool listening":
                    return int(entry["fields"]["port"])
            if self.proc.poll() is not None:
                raise BenchError(f"pool {self.name} exited with {self.proc.returncode}; log:\n{tail(self.log_path)}")
            time.sleep(0.02)
        raise BenchError(f"pool {self.name} did not log \"pool listening\" within {timeout:g} s; log:\n{tail(self.log_path)}")

    def log(self) -> list[dict[str, Any]]:
        out = []
        try:
            for line in self.log_path.read_bytes().splitlines():
                try:
                    out.append(json.loads(line))
                except ValueError:
                    out.append({"raw": line.decode("utf-8", "replace")})
        except OSError:
            pass
        return out

    def runs_finished(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for e in self.log():
            if e.get("message") == "run finished":
                status = (e.get("fields") or {}).get("status", "?")
                counts[status] = counts.get(status, 0) + 1
        return counts

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                kill(self.proc)
                self.proc.wait(timeout=5)
        CHILDREN.discard(self.proc)
        return self.proc.returncode


class McpSession:
    """One long-lived `super-agent mcp` driven over raw pipes: pre-encoded request bytes written with
    os.write, the answer read with readline (notifications, if any, are skipped)."""

    def __init__(self, name: str, bin_path: str, env: dict[str, str], work: Path, guard: CallGuard):
        self.name = name
        self.guard = guard
        self.log_path = work / f"{name}.stderr.log"
        with open(self.log_path, "wb") as err:
            self.proc = CHILDREN.add(subprocess.Popen(
                [bin_path, "mcp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, env=env, cwd=str(work)))
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.fd = self.proc.stdin.fileno()
        self.readline = self.proc.stdout.readline
        self.next_id = 10
        self.guard.arm(lambda: kill(self.proc))
        try:
            os.write(self.fd, INITIALIZE)
            msg = json.loads(self._read("initialize"))
        finally:
            self.guard.disarm()
        if msg.get("id") != 1 or "result" not in msg:
            raise BenchError(f"{name}: bad initialize answer: {msg}")
        os.write(self.fd, INITIALIZED)

    def _read(self, what: str) -> bytes:
        line = self.readline()
        while line and b'"id"' not in line:
            line = self.readline()
        if not line:
            raise BenchError(f"{self.name}: stdout closed while waiting for {what}"
                             f"{' (watchdog: ' + self.guard.fired + ')' if self.guard.fired else ''}; "
                             f"stderr:\n{tail(self.log_path)}")
        return line

    def call(self, suffix: bytes) -> tuple[int, bytes, int]:
        """(latency ns, answer line, request id) of one lockstep request."""
        rid = self.next_id
        self.next_id += 1
        request = RUN_PREFIX + str(rid).encode() + suffix
        clock = time.perf_counter_ns
        self.guard.arm(self._kill)
        t0 = clock()
        os.write(self.fd, request)
        line = self._read(f"the answer to id {rid}")
        t1 = clock()
        self.guard.disarm()
        return t1 - t0, line, rid

    def _kill(self) -> None:
        kill(self.proc)

    def close(self) -> None:
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            kill(self.proc)
            self.proc.wait(timeout=5)
        except OSError:
            pass
        CHILDREN.discard(self.proc)


# --- what one call of each row is ------------------------------------------------------------------


class Row:
    """A named series of latencies; `once()` makes one timed call and returns its latency in ns."""

    def __init__(self, name: str, what: str, once: Callable[[], int], target: bool = False):
        self.name = name
        self.what = what
        self.once = once
        self.target = target
        self.lat_ns: list[int] = []
        self.rounds: list[list[int]] = []


def check_run_answer(line: bytes, rid: int, where: str, pod: str, confinement: str | None,
                     seen: dict[str, int]) -> None:
    msg = json.loads(line)
    if msg.get("id") != rid:
        raise BenchError(f"{where}: expected the answer to id {rid}, got {line[:300]!r}")
    if "error" in msg:
        raise BenchError(f"{where}: JSON-RPC error: {msg['error']}")
    result = msg.get("result") or {}
    sc = result.get("structuredContent") or {}
    if result.get("isError") or sc.get("status") != "OK" or sc.get("exit_code") != 0:
        raise BenchError(f"{where}: the run did not succeed: {json.dumps(sc)[:600]}")
    if sc.get("adapter") != "noop" or sc.get("pod") != pod:
        raise BenchError(f"{where}: expected adapter noop on pod {pod}, got {sc.get('adapter')!r} on {sc.get('pod')!r}")
    got = sc.get("confinement")
    if confinement is not None and got != confinement:
        raise BenchError(f"{where}: expected confinement {confinement!r}, got {got!r}")
    seen[got] = seen.get(got, 0) + 1


def mcp_run_row(name: str, what: str, session: McpSession, pod: str, confinement: str | None,
                seen: dict[str, int], target: bool = False) -> Row:
    def once() -> int:
        ns, line, rid = session.call(RUN_SUFFIX)
        check_run_answer(line, rid, session.name, pod, confinement, seen)  # after the clock stopped
        return ns

    return Row(name, what, once, target)


def mcp_ping_row(session: McpSession) -> Row:
    def once() -> int:
        ns, line, rid = session.call(PING_SUFFIX)
        msg = json.loads(line)
        if msg.get("id") != rid or msg.get("result") != {}:
            raise BenchError(f"{session.name}: bad ping answer {line[:300]!r}")
        return ns

    return Row("mcp-ping", "MCP `ping` round trip on the pool-connected `super-agent mcp`", once)


def floor_row(guard: CallGuard, devnull: int) -> Row:
    file_actions = [(os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, devnull, 1),
                    (os.POSIX_SPAWN_DUP2, devnull, 2)]
    argv = [NOOP]
    env = {"PATH": "/usr/bin:/bin"}
    spawn, waitpid, clock = os.posix_spawn, os.waitpid, time.perf_counter_ns

    def once() -> int:
        t0 = clock()
        pid = spawn(NOOP, argv, env, file_actions=file_actions)
        guard.arm(lambda: os.kill(pid, signal.SIGKILL))
        _, status = waitpid(pid, 0)
        t1 = clock()
        guard.disarm()
        if os.waitstatus_to_exitcode(status) != 0:
            raise BenchError(f"floor: {NOOP} exited with status {status}")
        return t1 - t0

    return Row("floor", f"os.posix_spawn({NOOP}) + waitpid, stdio on /dev/null", once, target=True)


def floor_pipes_row(guard: CallGuard) -> Row:
    argv = [NOOP]
    env = {"PATH": "/usr/bin:/bin"}
    spawn, waitpid, clock = os.posix_spawn, os.waitpid, time.perf_counter_ns

    def once() -> int:
        t0 = clock()
        in_r, in_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        pid = spawn(NOOP, argv, env, file_actions=[
            (os.POSIX_SPAWN_DUP2, in_r, 0), (os.POSIX_SPAWN_DUP2, out_w, 1), (os.POSIX_SPAWN_DUP2, err_w, 2)])
        guard.arm(lambda: os.kill(pid, signal.SIGKILL))
        for fd in (in_r, out_w, err_w):
            os.close(fd)
        try:
            os.write(in_w, b"x")
        except BrokenPipeError:
            pass
        os.close(in_w)
        while os.read(out_r, 65536):
            pass
        while os.read(err_r, 65536):
            pass
        os.close(out_r)
        os.close(err_r)
        _, status = waitpid(pid, 0)
        t1 = clock()
        guard.disarm()
        if os.waitstatus_to_exitcode(status) != 0:
            raise BenchError(f"floor+pipes: {NOOP} exited with status {status}")
        return t1 - t0

    return Row("floor+pipes", "the floor with stdin/stdout/stderr pipes (\"x\" written, outputs read to EOF)", once)


def http_row(pool: Pool, guard: CallGuard, seen: dict[str, int]) -> Row:
    counter = [0]
    head = (f"POST /v1/runs HTTP/1.1\r\nHost: 127.0.0.1:{pool.port}\r\nAccept: application/x-ndjson\r\n"
            f"Content-Type: application/json\r\nAuthorization: Bearer {TOKEN}\r\n").encode()
    clock = time.perf_counter_ns

    def once() -> int:
        counter[0] += 1
        body = json.dumps({"run_id": f"bench-http-{os.getpid()}-{counter[0]}", "task": "noop", "prompt": "x",
                           "adapter": "noop"}).encode() + b"\n"
        request = head + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        t0 = clock()
        s = socket.create_connection(("127.0.0.1", pool.port), timeout=guard.seconds)
        try:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.sendall(request)
            # Read until the chunked body's last chunk (the run's result line precedes it).
            buf = b""
            while not buf.endswith(b"\r\n0\r\n\r\n"):
                data = s.recv(65536)
                if not data:
                    break
                buf += data
            t1 = clock()
        finally:
            s.close()
        head_end = buf.find(b"\r\n\r\n")
        if not buf.startswith(b"HTTP/1.1 200") or head_end < 0:
            raise BenchError(f"http: unexpected answer {buf[:400]!r}")
        # De-chunk and take the last NDJSON line.
        body_bytes, rest = b"", buf[head_end + 4:]
        while rest:
            size_end = rest.find(b"\r\n")
            size = int(rest[:size_end].split(b";")[0], 16)
            if size == 0:
                break
            body_bytes += rest[size_end + 2:size_end + 2 + size]
            rest = rest[size_end + 2 + size + 2:]
        lines = [ln for ln in body_bytes.splitlines() if ln.strip()]
        last = json.loads(lines[-1]) if lines else {}
        r = last.get("result") or {}
        if last.get("event") != "result" or r.get("status") != "OK" or r.get("pod") != pool.pod:
            raise BenchError(f"http: the run did not succeed: {body_bytes[-600:]!r}")
        seen[r.get("confinement")] = seen.get(r.get("confinement"), 0) + 1
        return t1 - t0

    return Row("http", "POST /v1/runs straight to the pool (new connection per run), read to the last chunk", once)


def cli_row(bin_path: str, env: dict[str, str], work: Path, guard: CallGuard, pod: str) -> Row:
    argv = [bin_path, "run", "--task", "noop", "--prompt", "x", "--adapter", "noop"]
    clock = time.perf_counter_ns

    def once() -> int:
        t0 = clock()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=env, cwd=str(work))
        guard.arm(lambda: kill(proc))
        out, err = proc.communicate()
        t1 = clock()
        guard.disarm()
        try:
            r = json.loads(out)
        except ValueError:
            r = {}
        if proc.returncode != 0 or r.get("status") != "OK" or r.get("pod") != pod:
            raise BenchError(f"cli-run: exit {proc.returncode}, stdout {out[:400]!r}, stderr {err[-400:]!r}")
        return t1 - t0

    return Row("cli-run", "`super-agent run --adapter noop` with SUPER_AGENT_POOL_URL set (a new process per call)", once)


# --- statistics and reporting ----------------------------------------------------------------------


def pct(sorted_ns: list[int], p: float) -> float:
    """Nearest-rank percentile, in ms."""
    if not sorted_ns:
        return float("nan")
    k = max(0, min(len(sorted_ns) - 1, math.ceil(p * len(sorted_ns)) - 1))
    return sorted_ns[k] / 1e6


def summary(lat_ns: list[int]) -> dict[str, float]:
    s = sorted(lat_ns)
    return {"n": len(s), "p50": pct(s, 0.50), "p90": pct(s, 0.90), "p99": pct(s, 0.99), "mean": statistics.fmean(s) / 1e6,
            "min": s[0] / 1e6, "max": s[-1] / 1e6}


def run_text(argv: list[str], cwd: Path | None = None) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, timeout=20, cwd=str(cwd) if cwd else None)
        return (out.stdout.decode().strip() or out.stderr.decode().strip()).splitlines()[0]
    except Exception:  # noqa: BLE001
        return "unknown"


def pool_machine_info(bin_path: str) -> dict[str, Any]:
    libs = {}
    for pkg in ("libcurl4", "libmicrohttpd12"):
        libs[pkg] = run_text(["dpkg-query", "-W", "-f=${Version}", pkg])
    head = run_text(["git", "rev-parse", "--short", "HEAD"], ROOT)
    dirty = run_text(["git", "status", "--porcelain", "--untracked-files=no"], ROOT)
    return {
        **machine_info(),
        "super_agent": run_text([bin_path, "--version"]),
        "swift": run_text(["swift", "--version"]),
        # The checkout this script runs from; the binary may have been built from another tree.
        "checkout": f"{head}{' (with uncommitted changes)' if dirty not in ('', 'unknown') else ''}",
        "libs": libs,
        "bin": bin_path,
    }


# --- main ------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.environ.get("SUPER_AGENT_BIN"),
                    help="super-agent binary (default: $SUPER_AGENT_BIN, else .build/release/super-agent)")
    ap.add_argument("--calls", type=int, default=1000, help="timed calls per row, after warm-up (>= 300)")
    ap.add_argument("--cli-calls", type=int, default=300, help="timed calls of the cli-run row (a process each)")
    ap.add_argument("--rounds", type=int, default=10, help="alternating rounds the calls are split into")
    ap.add_argument("--warmup", type=int, default=50, help="untimed calls per row before the rounds")
    ap.add_argument("--call-timeout", type=float, default=30.0, help="watchdog bound on any one call or start, seconds")
    ap.add_argument("--no-cli", action="store_true", help="leave out the cli-run context row")
    ap.add_argument("--json", metavar="OUT", help="also write every figure as JSON to OUT")
    args = ap.parse_args()
    if args.calls < 300:
        ap.error("--calls must be at least 300")
    if args.rounds < 2 or args.rounds > args.calls:
        ap.error("--rounds must be from 2 to --calls")

    bin_path = os.path.abspath(args.bin or str(ROOT / ".build" / "release" / "super-agent"))
    if not os.access(bin_path, os.X_OK):
        print(f"pool_bench: super-agent binary not found or not executable: {bin_path}\n"
              "            build it with `swift build -c release --scratch-path DIR` and pass --bin", file=sys.stderr)
        return 2
    if not os.access(NOOP, os.X_OK):
        print(f"pool_bench: {NOOP} is missing", file=sys.stderr)
        return 2

    CHILDREN.clean_up_on_exit()

    guard = CallGuard(args.call_timeout)
    work = Path(tempfile.mkdtemp(prefix="super-agent-pool-bench-"))
    devnull = os.open(os.devnull, os.O_RDWR)
    sessions: list[McpSession] = []
    pools: list[Pool] = []
    seen: dict[str, dict[str, int]] = {"pool": {}, "pool-none": {}, "embedded": {}, "http": {}}
    try:
        info = pool_machine_info(bin_path)
        print(f"pool_bench: {info['date']}  {info['nproc']} CPU(s)  {info['cpu']}  kernel {info['kernel']}", flush=True)
        print(f"pool_bench: {info['super_agent']} at {bin_path}; checkout {info['checkout']}; libcurl "
              f"{info['libs']['libcurl4']}, libmicrohttpd {info['libs']['libmicrohttpd12']}, Python {info['python']}", flush=True)
        print(f"pool_bench: load average {info['loadavg_at_start']} (other work on the machine skews every figure)",
              flush=True)

        config = work / "noop.json"
        config.write_text(json.dumps({"adapters": {"noop": {"argv": [NOOP], "prompt": "stdin", "output": "text"}}}))
        config_none = work / "noop-none.json"
        config_none.write_text(json.dumps({"pool": {"confinement": "none"},
                                           "adapters": {"noop": {"argv": [NOOP], "prompt": "stdin", "output": "text"}}}))
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("SUPER_AGENT_")}
        base_env["PATH"] = "/usr/local/bin:/usr/bin:/bin"

        pool = Pool("pool-auto", bin_path, config, work, base_env, args.call_timeout)
        pools.append(pool)
        pool_none = Pool("pool-none", bin_path, config_none, work, base_env, args.call_timeout)
        pools.append(pool_none)

        def mcp_env(name: str, pool_url: str | None, cfg: Path) -> dict[str, str]:
            state = work / f"{name}-state"
            state.mkdir()
            env = dict(base_env, ROLE_ID="cto", HOME=str(state), SUPER_AGENT_STATE_DIR=str(state),
                       SUPER_AGENT_CONFIG=str(cfg), SUPER_AGENT_WORKSPACE_ROOTS=str(work / "workspace-root"),
                       SUPER_AGENT_POD_NAME=f"bench-{name}")
            if pool_url:
                env.update(SUPER_AGENT_POOL_URL=pool_url, SUPER_AGENT_POOL_TOKEN=TOKEN)
            return env

        # The tool's schema must offer the noop adapter (SUPER_AGENT_CONFIG) for the mcp processes.
        printed = subprocess.run([bin_path, "mcp", "--print-config"], capture_output=True, timeout=args.call_timeout,
                                 env=mcp_env("print-config", pool.url, config), cwd=str(work))
        try:
            adapters = json.loads(printed.stdout).get("adapters", {})
        except ValueError:
            adapters = {}
        if "noop" not in adapters or adapters["noop"].get("argv") != [NOOP]:
            raise BenchError(f"`super-agent mcp --print-config` does not show the noop adapter: {printed.stdout[:400]!r} "
                             f"{printed.stderr[-400:]!r}")

        s_pool = McpSession("mcp-pool", bin_path, mcp_env("mcp-pool", pool.url, config), work, guard)
        sessions.append(s_pool)
        s_none = McpSession("mcp-pool-none", bin_path, mcp_env("mcp-pool-none", pool_none.url, config), work, guard)
        sessions.append(s_none)
        s_emb = McpSession("mcp-embedded", bin_path, mcp_env("embedded", None, config), work, guard)
        sessions.append(s_emb)

        # Which confinement `auto` gives here is what the first run says (landlock, or none on a kernel
        # without it); every later run of that row must say the same.
        rows = [
            floor_row(guard, devnull),
            mcp_run_row("pool", "MCP -> HTTP -> pool (confinement auto) -> spawn -> result", s_pool, pool.pod, None,
                        seen["pool"], target=True),
            floor_pipes_row(guard),
            mcp_run_row("pool-none", "the same, pool with \"confinement\": \"none\"", s_none, pool_none.pod, "none",
                        seen["pool-none"]),
            mcp_run_row("embedded", "MCP -> in-process pool (no SUPER_AGENT_POOL_URL) -> spawn, confinement auto", s_emb,
                        "bench-embedded", None, seen["embedded"]),
            http_row(pool, guard, seen["http"]),
            mcp_ping_row(s_pool),
        ]
        if not args.no_cli:
            cli_env = dict(mcp_env("cli", pool.url, config))
            rows.append(cli_row(bin_path, cli_env, work, guard, pool.pod))
        per_row_calls = {r.name: (args.cli_calls if r.name == "cli-run" else args.calls) for r in rows}

        print(f"pool_bench: warm-up, {args.warmup} calls per row ...", flush=True)
        for row in rows:
            for _ in range(args.warmup):
                row.once()
        sent_to_pool = args.warmup * 2 + (args.warmup if not args.no_cli else 0)  # pool, http, cli-run
        for name in ("pool", "embedded"):
            if len(seen[name]) != 1:
                raise BenchError(f"{name}: the runs disagree on their confinement: {seen[name]}")

        print(f"pool_bench: {args.calls} lockstep calls per row"
              f"{'' if args.no_cli else f' ({args.cli_calls} for cli-run)'} in {args.rounds} alternating rounds ...",
              flush=True)
        t_start = time.monotonic()
        for rnd in range(args.rounds):
            order = rows[rnd % len(rows):] + rows[:rnd % len(rows)]  # rotate who goes first
            for row in order:
                total = per_row_calls[row.name]
                n = total // args.rounds + (1 if rnd < total % args.rounds else 0)
                this_round = []
                for _ in range(n):
                    this_round.append(row.once())
                row.rounds.append(this_round)
                row.lat_ns.extend(this_round)
        elapsed = time.monotonic() - t_start
        sent_to_pool += per_row_calls["pool"] + per_row_calls["http"] + per_row_calls.get("cli-run", 0)
        for name in ("pool", "embedded"):
            if len(seen[name]) != 1:
                raise BenchError(f"{name}: the runs disagree on their confinement: {seen[name]}")

        for s in sessions:
            s.close()
        sessions.clear()
        counted = pool.runs_finished()
        counted_none = pool_none.runs_finished()
        exit_auto, exit_none = pool.stop(), pool_none.stop()
        pools.clear()
        if counted != {"OK": sent_to_pool}:
            raise BenchError(f"pool-auto logged {counted} finished runs; {sent_to_pool} OK runs were sent to it")
        want_none = args.warmup + per_row_calls["pool-none"]
        if counted_none != {"OK": want_none}:
            raise BenchError(f"pool-none logged {counted_none} finished runs; {want_none} OK runs were sent to it")
        if exit_auto != 0 or exit_none != 0:
            raise BenchError(f"the pools exited with {exit_auto} / {exit_none} on SIGTERM (expected 0)")
    except (BenchError, OSError, subprocess.SubprocessError, ValueError) as e:
        # OSError covers a socket timeout of the http row; ValueError an unparsable answer.
        what = "" if isinstance(e, BenchError) else f"{type(e).__name__}: "
        note = f" (watchdog: {guard.fired})" if guard.fired and "watchdog" not in str(e) else ""
        print(f"pool_bench: FAILED: {what}{e}{note}", file=sys.stderr)
        return 1
    finally:
        guard.stop()
        for s in sessions:
            s.close()
        for p in pools:
            p.stop()
        CHILDREN.kill_all()
        os.close(devnull)
        shutil.rmtree(work, ignore_errors=True)

    info["loadavg_at_end"] = loadavg()
    stats = {r.name: summary(r.lat_ns) for r in rows}
    floor, target = stats["floor"], stats["pool"]
    over_p50 = target["p50"] - floor["p50"]
    over_p99 = target["p99"] - floor["p99"]
    over_mean = target["mean"] - floor["mean"]
    ok = over_p50 < TARGET_P50_OVERHEAD_MS
    conf_auto = next(iter(seen["pool"]))

    def over(name: str, base: str = "floor") -> str:
        return f"{stats[name]['p50'] - stats[base]['p50']:+.3f} / {stats[name]['p99'] - stats[base]['p99']:+.3f}"

    print()
    print("== overhead of super_agent_run (MCP -> HTTP -> pool -> spawn) over spawning the no-op directly ==")
    print(f"  p50 overhead   {over_p50:8.3f} ms   (pool p50 {target['p50']:.3f} - floor p50 {floor['p50']:.3f})"
          f"   target < {TARGET_P50_OVERHEAD_MS:g} ms")
    print(f"  p99 overhead   {over_p99:8.3f} ms   (pool p99 {target['p99']:.3f} - floor p99 {floor['p99']:.3f})")
    print(f"  mean overhead  {over_mean:8.3f} ms")
    print(f"  ratio p50      {target['p50'] / floor['p50']:8.2f}x   (pool / floor)")
    print(f"  confinement of the pool runs: {conf_auto} (the default, auto)")
    print()
    print(f"== latency per call, ms ({args.calls} calls per row; cli-run {per_row_calls.get('cli-run', 0)}) ==")
    names = [r.name for r in rows]
    w = max(len(n) for n in names) + 2
    print(f"  {'row':<{w}} {'p50':>8} {'p99':>8} {'mean':>8} {'min':>8} {'max':>8}   {'over floor p50 / p99':>22}")
    for r in rows:
        s = stats[r.name]
        mark = "*" if r.target else " "
        print(f"{mark} {r.name:<{w}} {s['p50']:8.3f} {s['p99']:8.3f} {s['mean']:8.3f} {s['min']:8.3f} {s['max']:8.3f}"
              f"   {over(r.name):>22}")
    print("  (* = the two rows of the target)")
    print("  per-round p50, ms:")
    for r in rows:
        print(f"    {r.name:<{w}} " + " ".join(f"{summary(x)['p50']:.2f}" for x in r.rounds if x))
    print()
    print("== decomposition (differences of p50s, ms; context) ==")
    print(f"  Landlock (pool - pool-none)                 {stats['pool']['p50'] - stats['pool-none']['p50']:+8.3f}")
    print(f"  HTTP + 2nd process (pool - embedded)        {stats['pool']['p50'] - stats['embedded']['p50']:+8.3f}")
    print(f"  MCP side (pool - http)                      {stats['pool']['p50'] - stats['http']['p50']:+8.3f}"
          f"   (of which MCP ping {stats['mcp-ping']['p50']:.3f})")
    print(f"  pool side (http - floor+pipes)              {stats['http']['p50'] - stats['floor+pipes']['p50']:+8.3f}")
    print(f"  pipes in the floor (floor+pipes - floor)    {stats['floor+pipes']['p50'] - stats['floor']['p50']:+8.3f}")
    print()
    print(f"  load average: {info['loadavg_at_start']} at start, {info['loadavg_at_end']} at end; "
          f"{elapsed:.1f} s of rounds")
    print()
    print("== target ==")
    print(f"  [{'PASS' if ok else 'FAIL'}] p50 overhead < {TARGET_P50_OVERHEAD_MS:g} ms on loopback: {over_p50:.3f} ms")

    if args.json:
        out = {
            "machine": info,
            "overhead_ms": {"p50": over_p50, "p99": over_p99, "mean": over_mean, "ratio_p50": target["p50"] / floor["p50"]},
            "target": {"p50_overhead_ms_below": TARGET_P50_OVERHEAD_MS, "pass": ok},
            "confinement_auto": conf_auto,
            "rows": {r.name: {"what": r.what, **stats[r.name],
                              "rounds_p50": [summary(x)["p50"] for x in r.rounds if x]} for r in rows},
            "settings": {"calls": args.calls, "cli_calls": per_row_calls.get("cli-run", 0), "rounds": args.rounds,
                         "warmup": args.warmup},
            "samples_ms": {r.name: [x / 1e6 for x in r.lat_ns] for r in rows},
        }
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
        print(f"\npool_bench: wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
