#!/usr/bin/env python3
"""super-agent vs the official Python MCP SDK: start-up, peak memory, lockstep tools/call rate.

Both servers are driven by the same raw-pipe client (subprocess pipes, pre-encoded request bytes,
`readline` on the response), so the client's cost per call is identical for both.

  SUPER_AGENT_BIN=.build/release/super-agent .venv/bin/python bench/bench.py [--json out.json] [--cpus 0]

Measured, side by side in one run (start-ups interleaved swift/python so drift hits both):
  1. start-up: process spawn -> `initialize` response line read (median of N fresh processes);
  2. peak RSS: VmHWM from /proc/<pid>/status, read after the call loop just before stdin is closed.
     (ru_maxrss from os.wait4 is recorded in the JSON but not used: it also counts the image the
     child had before exec, i.e. this benchmark's own address space, so it reads high.);
  3. lockstep rate: one `tools/call should_i_delegate` written, its response read, repeat, for a
     fixed duration (bounded by a maximum count), split into alternating rounds with every server
     alive at once so background load hits all alike. report_capacity is called once first, so
     both servers answer do_it_yourself; a warm-up precedes the timed loop; answers are spot-checked.
  Context rows (not targets): the same client against `cat` (pipes + client + a reader that sleeps
  in read(2) between lines), super-agent with its in-memory capacity store, super-agent with
  SUPER_AGENT_STDIN_SPIN_US=0 (no polling of stdin after an answer: every request then wakes a
  sleeping reader, which on a VM costs tens of microseconds), and processes that exit at once
  (exec + runtime + import floors).

Targets (a report: the exit status is 0 even when a target is missed):
  start-up >= 50x faster than Python, lockstep rate >= 20x Python, peak RSS <= 1/4 of Python.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from common import BenchError, Children, kill, loadavg, machine_info

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY_SERVER = HERE / "python_server.py"

TARGET_STARTUP_X = 50.0
TARGET_RATE_X = 20.0
TARGET_RSS_FRACTION = 0.25

INITIALIZE = (
    b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25",'
    b'"capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}\n'
)
INITIALIZED = b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n'
REPORT_CAPACITY = (
    b'{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"report_capacity",'
    b'"arguments":{"active_tasks":1}}}\n'
)
CALL_PREFIX = b'{"jsonrpc":"2.0","id":'
CALL_SUFFIX = b',"method":"tools/call","params":{"name":"should_i_delegate","arguments":{"task_priority":"normal"}}}\n'

# Every child we start, so nothing outlives the benchmark.
CHILDREN = Children()


class Server:
    """How to start one of the two servers."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path):
        self.name = name
        self.argv = argv
        self.env = env
        self.stderr_path = log_dir / f"{name}.stderr.log"

    def spawn(self) -> subprocess.Popen[bytes]:
        with open(self.stderr_path, "ab") as err:
            proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                env=self.env,
                cwd=str(ROOT),
                close_fds=True,
            )
        return CHILDREN.add(proc)

    def stderr_tail(self, n: int = 2000) -> str:
        try:
            return self.stderr_path.read_bytes()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""


class Watchdog:
    """Kills a child if an operation on it takes longer than `seconds` (a blocked readline then sees EOF)."""

    def __init__(self, proc: subprocess.Popen[bytes], seconds: float):
        self.fired = False

        def fire() -> None:
            self.fired = True
            kill(proc)

        self._timer = threading.Timer(seconds, fire)
        self._timer.daemon = True

    def __enter__(self) -> "Watchdog":
        self._timer.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._timer.cancel()


def read_response(proc: subprocess.Popen[bytes], server: Server, what: str) -> bytes:
    """The next line that is a response (has an id); notifications and log messages are skipped."""
    assert proc.stdout is not None
    while True:
        line = proc.stdout.readline()
        if not line:
            raise BenchError(f"{server.name}: stdout closed while waiting for {what}; stderr:\n{server.stderr_tail()}")
        if b'"id"' in line:
            return line


def check_response(line: bytes, want_id: int, server: Server, expect_action: str | None = None) -> dict[str, Any]:
    msg = json.loads(line)
    if msg.get("id") != want_id:
        raise BenchError(f"{server.name}: expected the response to id {want_id}, got {line[:300]!r}")
    if "error" in msg:
        raise BenchError(f"{server.name}: JSON-RPC error for id {want_id}: {msg['error']}")
    result = msg.get("result", {})
    if result.get("isError"):
        raise BenchError(f"{server.name}: tool error for id {want_id}: {result}")
    if expect_action is not None:
        action = (result.get("structuredContent") or {}).get("action")
        if action != expect_action:
            raise BenchError(f"{server.name}: expected action {expect_action!r}, got {action!r}: {line[:400]!r}")
    return msg


def close_and_reap(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> tuple[int | None, int | None]:
    """Closes stdin, waits for exit (killing after `timeout`); returns (exit status, ru_maxrss in KiB)."""
    try:
        if proc.stdin is not None and not proc.stdin.closed:
            proc.stdin.close()
    except OSError:
        pass
    deadline = time.monotonic() + timeout
    status: int | None = None
    maxrss: int | None = None
    while True:
        try:
            pid, wstatus, rusage = os.wait4(proc.pid, os.WNOHANG)
        except ChildProcessError:  # already reaped
            break
        if pid == proc.pid:
            status = os.waitstatus_to_exitcode(wstatus)
            maxrss = rusage.ru_maxrss
            proc.returncode = status
            break
        if time.monotonic() > deadline:
            kill(proc)
            deadline = time.monotonic() + 5
            timeout = -1
        time.sleep(0.002)
    if proc.stdout is not None:
        proc.stdout.close()
    CHILDREN.discard(proc)
    return status, maxrss


def proc_status(pid: int) -> dict[str, int]:
    """VmHWM / VmRSS / RssAnon / RssFile from /proc/<pid>/status, in KiB."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile", "RssShmem", "Threads"):
                out[key] = int(rest.split()[0])
    return out


def smaps_rollup(pid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                key, _, rest = line.partition(":")
                parts = rest.split()
                if len(parts) == 2 and parts[1] == "kB":
                    out[key] = int(parts[0])
    except OSError:
        pass
    return out


def handshake(proc: subprocess.Popen[bytes], server: Server) -> None:
    assert proc.stdin is not None
    os.write(proc.stdin.fileno(), INITIALIZE)
    check_response(read_response(proc, server, "initialize"), 1, server)
    os.write(proc.stdin.fileno(), INITIALIZED)


def measure_startup(server: Server, timeout: float) -> float:
    """Seconds from spawn to the initialize response line being read."""
    t0 = time.perf_counter()
    proc = server.spawn()
    try:
        with Watchdog(proc, timeout) as dog:
            assert proc.stdin is not None
            os.write(proc.stdin.fileno(), INITIALIZE)  # sits in the pipe until the server reads it
            line = read_response(proc, server, "initialize")
            t1 = time.perf_counter()
        if dog.fired:
            raise BenchError(f"{server.name}: no initialize response within {timeout}s")
        check_response(line, 1, server)
        return t1 - t0
    finally:
        close_and_reap(proc)


def measure_exec_floor(argv: list[str], env: dict[str, str], timeout: float) -> float:
    """Seconds to spawn and reap a process that exits at once (a floor for start-up)."""
    t0 = time.perf_counter()
    subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=env, cwd=str(ROOT), timeout=timeout, check=True)
    return time.perf_counter() - t0


class CallSession:
    """One long-lived server driven in lockstep: handshake, report_capacity once, then bursts of
    `tools/call should_i_delegate` (one request written, its response line read, repeat)."""

    FIRST_ID = 10

    def __init__(self, server: Server, max_calls: int, warmup: int, time_bound: float):
        self.server = server
        self.proc = server.spawn()
        self.dog = Watchdog(self.proc, time_bound)
        self.dog.__enter__()
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.fd = self.proc.stdin.fileno()
        self.result: dict[str, Any] = {"rounds": []}
        self.lat_ns: list[int] = []
        self.calls = 0
        self.seconds = 0.0
        handshake(self.proc, server)
        self.result["rss_after_initialize_kib"] = proc_status(self.proc.pid)
        os.write(self.fd, REPORT_CAPACITY)
        check_response(read_response(self.proc, server, "report_capacity"), 2, server)
        # Pre-encode every request the loops could send (ids are never reused in a session).
        self.requests = [CALL_PREFIX + str(i).encode() + CALL_SUFFIX
                         for i in range(self.FIRST_ID, self.FIRST_ID + warmup + max_calls)]
        self.k = 0
        self._loop(warmup, None, timed=False)  # warm-up, not counted

    def _loop(self, max_calls: int, duration: float | None, timed: bool) -> tuple[int, float]:
        server, requests, fd = self.server, self.requests, self.fd
        readline = self.proc.stdout.readline  # type: ignore[union-attr]
        write = os.write
        lat_append = self.lat_ns.append
        clock = time.perf_counter_ns
        k = self.k
        limit = min(len(requests), k + max_calls)
        n = 0
        line = b""
        t_start = now = clock()
        t_end = t_start + int(duration * 1e9) if duration is not None else None
        while k < limit and (t_end is None or now < t_end):
            t0 = now
            write(fd, requests[k])
            line = readline()
            while line and b'"id"' not in line:  # skip notifications, if any
                line = readline()
            now = clock()
            if not line:
                raise BenchError(f"{server.name}: stdout closed after {self.calls + n} calls; "
                                 f"stderr:\n{server.stderr_tail()}")
            if timed:
                lat_append(now - t0)
            if n % 997 == 0:  # spot-check answers; the first of every loop is always checked
                check_response(line, self.FIRST_ID + k, server, expect_action="do_it_yourself")
            n += 1
            k += 1
        if n:
            check_response(line, self.FIRST_ID + k - 1, server, expect_action="do_it_yourself")
        self.k = k
        return n, (now - t_start) / 1e9

    def burst(self, duration: float, max_calls: int) -> None:
        n, elapsed = self._loop(max_calls, duration, timed=True)
        self.calls += n
        self.seconds += elapsed
        self.result["rounds"].append({"calls": n, "seconds": elapsed, "calls_per_s": n / elapsed if elapsed else 0.0})

    def finish(self) -> dict[str, Any]:
        """Reads peak memory while the server is still alive, then closes stdin and reaps it."""
        try:
            status = proc_status(self.proc.pid)
            rollup = smaps_rollup(self.proc.pid)
        finally:
            self.dog.__exit__()
            exit_status, ru_maxrss = close_and_reap(self.proc)
        if self.dog.fired:
            raise BenchError(f"{self.server.name}: the call loop exceeded its time bound")
        lat = sorted(self.lat_ns)

        def pct(p: float) -> float:
            return lat[min(len(lat) - 1, int(p * len(lat)))] / 1000.0 if lat else float("nan")

        self.result.update(
            calls=self.calls,
            seconds=self.seconds,
            calls_per_s=self.calls / self.seconds if self.seconds > 0 else 0.0,
            latency_us={"p50": pct(0.50), "p90": pct(0.90), "p99": pct(0.99), "max": pct(1.0)},
            vmhwm_kib=status.get("VmHWM"),
            vmrss_kib=status.get("VmRSS"),
            rss_anon_kib=status.get("RssAnon"),
            rss_file_kib=status.get("RssFile"),
            threads=status.get("Threads"),
            smaps_rollup_kib={k: rollup[k] for k in ("Rss", "Pss", "Pss_Anon", "Pss_File", "Shared_Clean",
                                                     "Private_Clean", "Private_Dirty", "Anonymous") if k in rollup},
            # ru_maxrss from wait4 also counts the image the child had before exec (this benchmark's own
            # address space, via fork/vfork), so for a small server it reads high; VmHWM is the figure used.
            ru_maxrss_kib_including_pre_exec_image=ru_maxrss,
            exit_status=exit_status,
        )
        return self.result

    def abort(self) -> None:
        self.dog.__exit__()
        close_and_reap(self.proc, timeout=2)


def measure_calls(servers: dict[str, tuple[Server, int]], duration: float, rounds: int, warmup: int,
                  timeout: float) -> dict[str, dict[str, Any]]:
    """All servers alive at once; `rounds` alternating bursts of duration/rounds seconds each, so
    background noise on the machine hits every server alike."""
    sessions: dict[str, CallSession] = {}
    try:
        for name, (server, max_calls) in servers.items():
            sessions[name] = CallSession(server, max_calls, warmup, timeout + 3 * duration * len(servers))
        for _ in range(rounds):
            for name, (_, max_calls) in servers.items():
                sessions[name].burst(duration / rounds, max_calls)
        return {name: s.finish() for name, s in sessions.items()}
    except BaseException:
        for s in sessions.values():
            s.abort()
        raise


def measure_echo_floor(duration: float, timeout: float) -> dict[str, Any]:
    """The same client loop against `cat`: what the pipes and this client cost per round trip."""
    proc = CHILDREN.add(subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL))
    try:
        with Watchdog(proc, timeout + duration):
            assert proc.stdin is not None and proc.stdout is not None
            fd = proc.stdin.fileno()
            readline = proc.stdout.readline
            requests = [CALL_PREFIX + str(i).encode() + CALL_SUFFIX for i in range(10, 300_010)]
            clock = time.perf_counter_ns
            n = 0
            t_start = now = clock()
            t_end = t_start + int(duration * 1e9)
            while n < len(requests) and now < t_end:
                os.write(fd, requests[n])
                if not readline():
                    raise BenchError("cat: stdout closed")
                n += 1
                now = clock()
            elapsed = (now - t_start) / 1e9
    finally:
        close_and_reap(proc)
    return {"round_trips": n, "seconds": elapsed, "round_trips_per_s": n / elapsed, "us_per_round_trip": elapsed / n * 1e6}


def median_ms(xs: list[float]) -> float:
    return statistics.median(xs) * 1000.0


def mcp_version() -> str:
    try:
        from importlib.metadata import version

        return version("mcp")
    except Exception:  # noqa: BLE001
        return "unknown"


def swift_version(bin_path: str, env: dict[str, str]) -> str:
    try:
        out = subprocess.run([bin_path, "--version"], capture_output=True, env=env, timeout=10)
        return out.stdout.decode().strip() or out.stderr.decode().strip()
    except Exception:  # noqa: BLE001
        return "unknown"


def fmt_kib(k: int | None) -> str:
    return "n/a" if k is None else f"{k / 1024:.1f} MiB"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--swift-bin", default=os.environ.get("SUPER_AGENT_BIN"),
                    help="super-agent binary (default: $SUPER_AGENT_BIN, else .build/release/super-agent)")
    ap.add_argument("--starts", type=int, default=21, help="fresh starts per server for the start-up median (>= 15)")
    ap.add_argument("--duration", type=float, default=3.0, help="seconds of lockstep calls per server (in total)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating bursts the duration is split into")
    ap.add_argument("--swift-max-calls", type=int, default=200_000, help="upper bound on swift calls")
    ap.add_argument("--python-max-calls", type=int, default=30_000, help="upper bound on python calls")
    ap.add_argument("--warmup", type=int, default=200, help="untimed calls before the loop")
    ap.add_argument("--timeout", type=float, default=60.0, help="bound on any one start or call phase, seconds")
    ap.add_argument("--json", metavar="OUT", help="also write every figure as JSON to OUT")
    ap.add_argument("--cpus", metavar="LIST",
                    help="pin this client and every server it starts to these CPUs (e.g. 0 or 0,1); a diagnostic: "
                         "on a VM whose idle vCPUs halt, one CPU takes the cross-CPU wake-up cost out of every round trip")
    args = ap.parse_args()
    if args.starts < 15:
        ap.error("--starts must be at least 15")

    swift_bin = args.swift_bin or str(ROOT / ".build" / "release" / "super-agent")
    if not os.access(swift_bin, os.X_OK):
        print(f"bench: super-agent binary not found or not executable: {swift_bin}\n"
              "       build it with `swift build -c release` or run `make bench`", file=sys.stderr)
        return 2

    if args.cpus:
        try:
            os.sched_setaffinity(0, {int(c) for c in args.cpus.split(",")})  # inherited by every child
        except (ValueError, OSError) as e:
            ap.error(f"--cpus {args.cpus}: {e}")

    CHILDREN.clean_up_on_exit()

    work = Path(tempfile.mkdtemp(prefix="super-agent-bench-"))
    try:
        state_dir = work / "state"
        state_dir.mkdir()
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("SUPER_AGENT_")}
        base_env.update(ROLE_ID="cto")
        swift_env = dict(base_env, SUPER_AGENT_STATE_DIR=str(state_dir))
        py_env = dict(base_env)
        py_env.pop("PYTHONDONTWRITEBYTECODE", None)  # an ordinary environment: bytecode caching on
        swift = Server("swift", [swift_bin, "mcp"], swift_env, work)
        python = Server("python", [sys.executable, str(PY_SERVER)], py_env, work)

        info = machine_info()
        info["super_agent"] = swift_version(swift_bin, swift_env)
        info["mcp_sdk"] = mcp_version()
        info["swift_bin"] = swift_bin
        print(f"bench: {info['date']}  {info['nproc']} CPU(s)  {info['cpu']}  kernel {info['kernel']}", flush=True)
        print(f"bench: load average {info['loadavg_at_start']} (other work on the machine skews every figure)", flush=True)
        if args.cpus:
            print(f"bench: client and servers pinned to CPU(s) {args.cpus}", flush=True)
        print(f"bench: {info['super_agent']} vs Python {info['python']} + mcp {info['mcp_sdk']} (MCPServer)", flush=True)

        # 1. Start-up (one warm-up each for the page cache and bytecode, then interleaved).
        print(f"bench: start-up, {args.starts} fresh starts each ...", flush=True)
        measure_startup(swift, args.timeout)
        measure_startup(python, args.timeout)
        starts: dict[str, list[float]] = {"swift": [], "python": []}
        for _ in range(args.starts):
            starts["swift"].append(measure_startup(swift, args.timeout))
            starts["python"].append(measure_startup(python, args.timeout))

        # Context: how long a process that exits at once takes (exec + runtime + imports).
        floors: dict[str, list[float]] = {"/bin/true": [], "super-agent --version": [], "python -c pass": [],
                                          "python -c 'import mcp.server.mcpserver'": []}
        for _ in range(15):
            floors["/bin/true"].append(measure_exec_floor(["/bin/true"], swift_env, args.timeout))
            floors["super-agent --version"].append(measure_exec_floor([swift_bin, "--version"], swift_env, args.timeout))
            floors["python -c pass"].append(measure_exec_floor([sys.executable, "-c", "pass"], py_env, args.timeout))
            floors["python -c 'import mcp.server.mcpserver'"].append(
                measure_exec_floor([sys.executable, "-c", "import mcp.server.mcpserver"], py_env, args.timeout))

        # 2 + 3. Lockstep calls, then peak RSS of the same process.
        print(f"bench: lockstep should_i_delegate, {args.duration:g} s each in {args.rounds} alternating rounds ...", flush=True)
        # "swift-memory" is context only (not a target): super-agent with the in-memory capacity store
        # that the Python reference uses (super-agent's default store is SQLite, shared by processes).
        swift_mem = Server("swift-memory", [swift_bin, "mcp"], dict(swift_env, SUPER_AGENT_CAPACITY_STORE="memory"), work)
        # "swift-nospin" is context only: the default build with the stdin poll after each answer off.
        swift_nospin = Server("swift-nospin", [swift_bin, "mcp"], dict(swift_env, SUPER_AGENT_STDIN_SPIN_US="0"), work)
        calls = measure_calls(
            {"swift": (swift, args.swift_max_calls), "python": (python, args.python_max_calls),
             "swift-memory": (swift_mem, args.swift_max_calls), "swift-nospin": (swift_nospin, args.swift_max_calls)},
            args.duration, args.rounds, args.warmup, args.timeout)
        calls_mem = calls.pop("swift-memory")
        calls_nospin = calls.pop("swift-nospin")
        # Context: the same client against `cat`, i.e. what the pipes and this client cost per round trip.
        echo = measure_echo_floor(min(args.duration, 1.0), args.timeout)
    except BenchError as e:
        print(f"bench: FAILED: {e}", file=sys.stderr)
        return 1
    finally:
        CHILDREN.kill_all()
        shutil.rmtree(work, ignore_errors=True)

    info["loadavg_at_end"] = loadavg()
    info["cpu_affinity"] = sorted(os.sched_getaffinity(0))
    s_start, p_start = median_ms(starts["swift"]), median_ms(starts["python"])
    s_rate, p_rate = calls["swift"]["calls_per_s"], calls["python"]["calls_per_s"]
    s_rss, p_rss = calls["swift"]["vmhwm_kib"], calls["python"]["vmhwm_kib"]
    startup_x = p_start / s_start
    rate_x = s_rate / p_rate
    rss_frac = s_rss / p_rss

    ok_start = startup_x >= TARGET_STARTUP_X
    ok_rate = rate_x >= TARGET_RATE_X
    ok_rss = rss_frac <= TARGET_RSS_FRACTION

    print()
    print("== ratios (super-agent vs Python MCP SDK) ==")
    print(f"  start-up speed-up      {startup_x:8.1f}x   (python median / swift median)")
    print(f"  lockstep call rate     {rate_x:8.1f}x   (swift calls/s / python calls/s)")
    print(f"  peak RSS fraction      {rss_frac:8.3f}    (swift VmHWM / python VmHWM = 1/{1 / rss_frac:.1f})")
    print()
    print("== raw figures ==")
    rows = [
        ("start-up to initialize, median", f"{s_start:.2f} ms", f"{p_start:.2f} ms"),
        ("start-up, min / max",
         f"{min(starts['swift']) * 1000:.2f} / {max(starts['swift']) * 1000:.2f} ms",
         f"{min(starts['python']) * 1000:.2f} / {max(starts['python']) * 1000:.2f} ms"),
        ("lockstep should_i_delegate", f"{s_rate:,.0f} calls/s", f"{p_rate:,.0f} calls/s"),
        ("  calls / seconds", f"{calls['swift']['calls']:,} / {calls['swift']['seconds']:.2f}",
         f"{calls['python']['calls']:,} / {calls['python']['seconds']:.2f}"),
        ("  per round, calls/s", " ".join(f"{r['calls_per_s']:,.0f}" for r in calls["swift"]["rounds"]),
         " ".join(f"{r['calls_per_s']:,.0f}" for r in calls["python"]["rounds"])),
        ("  latency p50 / p99",
         f"{calls['swift']['latency_us']['p50']:.1f} / {calls['swift']['latency_us']['p99']:.1f} us",
         f"{calls['python']['latency_us']['p50']:.1f} / {calls['python']['latency_us']['p99']:.1f} us"),
        ("peak RSS (VmHWM)", fmt_kib(s_rss), fmt_kib(p_rss)),
        ("  RSS anon / file at end",
         f"{fmt_kib(calls['swift']['rss_anon_kib'])} / {fmt_kib(calls['swift']['rss_file_kib'])}",
         f"{fmt_kib(calls['python']['rss_anon_kib'])} / {fmt_kib(calls['python']['rss_file_kib'])}"),
        ("  RSS right after initialize", fmt_kib(calls["swift"]["rss_after_initialize_kib"].get("VmRSS")),
         fmt_kib(calls["python"]["rss_after_initialize_kib"].get("VmRSS"))),
        ("  threads", str(calls["swift"]["threads"]), str(calls["python"]["threads"])),
    ]
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows + [("", "super-agent (swift)", "")])
    print(f"  {'':<{w0}}  {'super-agent (swift)':>{w1}}  {'python MCPServer':>22}")
    for name, a, b in rows:
        print(f"  {name:<{w0}}  {a:>{w1}}  {b:>22}")
    print("  context (not targets):")
    print(f"    same client against `cat` (sleeps in read)   {echo['round_trips_per_s']:>10,.0f} round trips/s"
          f"  ({echo['us_per_round_trip']:.1f} us; {echo['round_trips_per_s'] / p_rate:.1f}x python)")
    print(f"    super-agent --capacity-store memory          {calls_mem['calls_per_s']:>10,.0f} calls/s"
          f"  ({calls_mem['calls_per_s'] / p_rate:.1f}x python; p50 {calls_mem['latency_us']['p50']:.1f} us)")
    print(f"    super-agent, SUPER_AGENT_STDIN_SPIN_US=0     {calls_nospin['calls_per_s']:>10,.0f} calls/s"
          f"  ({calls_nospin['calls_per_s'] / p_rate:.1f}x python; p50 {calls_nospin['latency_us']['p50']:.1f} us)")
    print("  process that exits at once (median of 15):")
    for name, xs in floors.items():
        print(f"    {name:<44} {median_ms(xs):8.2f} ms")
    print(f"  load average: {info['loadavg_at_start']} at start, {info['loadavg_at_end']} at end")
    print()
    print("== targets ==")
    print(f"  [{'PASS' if ok_start else 'FAIL'}] start-up >= {TARGET_STARTUP_X:g}x faster than Python: {startup_x:.1f}x")
    print(f"  [{'PASS' if ok_rate else 'FAIL'}] lockstep rate >= {TARGET_RATE_X:g}x Python: {rate_x:.1f}x")
    print(f"  [{'PASS' if ok_rss else 'FAIL'}] peak RSS <= 1/4 of Python: {rss_frac:.3f} (1/{1 / rss_frac:.1f})")
    missed = [n for n, ok in (("start-up", ok_start), ("call rate", ok_rate), ("peak RSS", ok_rss)) if not ok]
    print(f"  {'all targets met' if not missed else 'MISSED: ' + ', '.join(missed)}")

    if args.json:
        out = {
            "machine": info,
            "ratios": {"startup_speedup_x": startup_x, "call_rate_x": rate_x, "peak_rss_fraction": rss_frac},
            "targets": {
                "startup_speedup_x": {"target": TARGET_STARTUP_X, "pass": ok_start},
                "call_rate_x": {"target": TARGET_RATE_X, "pass": ok_rate},
                "peak_rss_fraction": {"target": TARGET_RSS_FRACTION, "pass": ok_rss},
            },
            "startup_ms": {
                k: {"median": median_ms(v), "min": min(v) * 1000, "max": max(v) * 1000, "samples": [x * 1000 for x in v]}
                for k, v in starts.items()
            },
            "exit_at_once_ms": {k: {"median": median_ms(v), "min": min(v) * 1000} for k, v in floors.items()},
            "calls": calls,
            "context": {"echo_floor_cat": echo, "swift_memory_store_calls": calls_mem, "swift_no_stdin_spin_calls": calls_nospin},
            "settings": {"cpus": args.cpus, "starts": args.starts, "duration_s": args.duration, "rounds": args.rounds, "warmup": args.warmup,
                         "swift_max_calls": args.swift_max_calls, "python_max_calls": args.python_max_calls},
        }
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
        print(f"\nbench: wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
