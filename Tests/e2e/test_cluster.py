"""Scale-out end to end: redis-server on a free loopback port and three `super-agent pool` pods
sharing one RunRegistry through it. A pod forwards a run to the peer holding its slot, a killed
pod's slots come back within the lease TTL, and a dead Redis degrades pods to their own slots."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import RawServer, binary, modern, server_env
from pool import Pool, TOKEN, fake_path

REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"
pytestmark = pytest.mark.skipif(not os.path.exists(REDIS), reason="redis-server is not installed (make deps installs it)")
LEASE_TTL = "2"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Redis:
    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="sa-redis-")
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", self.dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


@pytest.fixture
def redis():
    r = Redis()
    yield r
    r.stop()
    shutil.rmtree(r.dir, ignore_errors=True)


@pytest.fixture
def cluster(redis, tmp_path):
    root = tmp_path / "ws"
    root.mkdir()
    pods: list[Pool] = []

    def start(name: str) -> Pool:
        port = free_port()
        state = tempfile.mkdtemp(prefix=f"sa-{name}-")
        p = Pool(state, [str(root)], slots=3, args=["--listen", f"127.0.0.1:{port}"], extra_env={
            "SUPER_AGENT_POD_NAME": name, "SUPER_AGENT_REDIS_URL": redis.url,
            "SUPER_AGENT_ADVERTISE_URL": f"http://127.0.0.1:{port}", "SUPER_AGENT_LEASE_TTL_S": LEASE_TTL,
        })
        pods.append(p)
        return p

    yield start
    for p in pods:
        if p.proc.poll() is None:
            p.proc.kill()
            p.proc.wait()


def rid() -> str:
    return "c-" + uuid.uuid4().hex[:12]


def run_many(pod: Pool, n: int, prompt: str) -> list[tuple[int, list[dict]]]:
    with ThreadPoolExecutor(n) as ex:
        return list(ex.map(lambda _: pod.run(prompt, rid()), range(n)))


def until(predicate, timeout: float, what: str) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if predicate():
            return time.monotonic() - t0
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen within {timeout}s")


def test_nine_runs_through_one_pod_fill_three_pods_and_the_tenth_is_busy(cluster):
    a, b, c = cluster("pod-a"), cluster("pod-b"), cluster("pod-c")
    until(lambda: a.status().get("registry", {}).get("live_pods") == 3, 10, "three live pods")
    out = run_many(a, 10, "SLEEP 2")
    codes = sorted(s for s, _ in out)
    assert codes.count(200) == 9 and codes.count(429) == 1, codes
    pods = sorted(events[-1]["result"]["pod"] for s, events in out if s == 200)
    assert pods == ["pod-a"] * 3 + ["pod-b"] * 3 + ["pod-c"] * 3
    assert all(events[-1]["result"]["status"] == "OK" for s, events in out if s == 200)
    # Every pod counts only the runs it ran.
    assert sum(p.metric('super_agent_runs_total{status="OK"}') for p in (a, b, c)) == 9


def test_a_killed_pods_slots_come_back_within_the_lease_ttl(cluster):
    a, b, c = cluster("pod-a"), cluster("pod-b"), cluster("pod-c")
    until(lambda: a.status().get("registry", {}).get("live_pods") == 3, 10, "three live pods")
    def doomed_run() -> None:
        try:
            b.run("SLEEP 30", rid())
        except (http.client.HTTPException, OSError):
            pass  # the pod is killed mid-stream: its clients see the connection drop

    threads = [threading.Thread(target=doomed_run) for _ in range(3)]
    for t in threads:
        t.start()
    until(lambda: b.status()["busy"] == 3, 5, "pod-b full")
    b.proc.send_signal(signal.SIGKILL)
    b.proc.wait()
    t0 = time.monotonic()
    until(lambda: a.status().get("registry", {}).get("live_pods") == 2, float(LEASE_TTL) + 3, "pod-b expired")
    assert time.monotonic() - t0 < float(LEASE_TTL) + 3
    out = run_many(a, 7, "SLEEP 1")
    codes = sorted(s for s, _ in out)
    assert codes.count(200) == 6 and codes.count(429) == 1, codes


def test_a_dead_redis_degrades_pods_to_their_own_slots_and_they_recover(cluster, redis):
    a, b = cluster("pod-a"), cluster("pod-b")
    until(lambda: a.status().get("registry", {}).get("live_pods") == 2, 10, "two live pods")
    redis.stop()
    until(lambda: a.status().get("registry", {}).get("mode") == "degraded", 10, "degraded mode")
    s, _, body = a.request("GET", "/readyz", token=None)
    assert s == 200 and json.loads(body)["registry"] == "degraded"
    assert a.metric("super_agent_registry_degraded") == 1
    out = run_many(a, 4, "SLEEP 1")
    codes = sorted(s for s, _ in out)
    assert codes.count(200) == 3 and codes.count(429) == 1, codes
    redis.start()
    until(lambda: a.status().get("registry", {}).get("mode") == "shared", 15, "recovery")
    until(lambda: a.status().get("registry", {}).get("live_pods") == 2, 10, "peers seen again")
    out = run_many(a, 6, "SLEEP 1")
    assert sorted(s for s, _ in out).count(200) == 6


def test_two_agents_on_different_state_dirs_see_each_others_load_through_redis(redis, tmp_path):
    cto = RawServer(server_env(str(tmp_path / "cto"), "cto", SUPER_AGENT_REDIS_URL=redis.url))
    ceo = RawServer(server_env(str(tmp_path / "ceo"), "ceo", SUPER_AGENT_REDIS_URL=redis.url))
    try:
        for srv in (cto, ceo):
            srv.initialize()
        r = cto.call("tools/call", {"name": "report_capacity", "arguments": {"active_tasks": 0, "max_tasks": 3}})["result"]
        assert not r.get("isError"), r
        ceo.call("tools/call", {"name": "report_capacity", "arguments": {"active_tasks": 2, "max_tasks": 2}})
        d = ceo.call("tools/call", {"name": "should_i_delegate", "arguments": {"task_priority": "normal"}})["result"]
        assert d["structuredContent"]["action"] == "delegate_to_report", d
        assert d["structuredContent"]["delegate_to"] == "cto"
    finally:
        for srv in (cto, ceo):
            srv.close()


def test_runs_from_two_state_dirs_land_in_one_redis_ledger_read_from_a_third(redis, tmp_path):
    """With SUPER_AGENT_REDIS_URL set the ledger is a Redis stream, not <state dir>/ledger.sqlite3."""
    workspace = tmp_path / "ws"
    workspace.mkdir()
    runs = {}
    for host, role in (("host-a", "cto"), ("host-b", "cfo")):
        state = tmp_path / host
        state.mkdir()
        env = {"PATH": fake_path(), "HOME": str(state), "SUPER_AGENT_STATE_DIR": str(state), "ROLE_ID": role,
               "SUPER_AGENT_WORKSPACE_ROOTS": str(workspace), "SUPER_AGENT_REDIS_URL": redis.url}
        out = subprocess.run([binary(), "run", "--task", f"task-{host}", "--prompt", "hello"],
                             env=env, capture_output=True, timeout=30)
        assert out.returncode == 0, out.stderr[-2000:]
        result = json.loads(out.stdout)
        assert result["status"] == "OK", result
        runs[role] = result
        assert not (state / "ledger.sqlite3").exists()

    reader = tmp_path / "reader"
    reader.mkdir()

    def costs(*args: str, **extra: str) -> dict:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(reader), "SUPER_AGENT_STATE_DIR": str(reader), **extra}
        out = subprocess.run([binary(), "costs", "--format", "json", *args], env=env, capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    report = costs("--by", "agent", SUPER_AGENT_REDIS_URL=redis.url)
    by_agent = {r["key"]: r for r in report["rows"]}
    assert set(by_agent) == {"cto", "cfo"}, report
    for role, result in runs.items():
        assert by_agent[role]["runs"] == 1
        assert abs(by_agent[role]["spend_usd"] - result["cost_usd"]) < 1e-9
    assert report["totals"]["runs"] == 2
    assert {r["key"] for r in costs("--by", "task", SUPER_AGENT_REDIS_URL=redis.url)["rows"]} == {"task-host-a", "task-host-b"}
    # Without the URL, the reader's own (empty) state dir is the ledger.
    assert costs()["totals"]["runs"] == 0

    cli = shutil.which("redis-cli")
    if cli:
        ids = subprocess.run([cli, "-p", str(redis.port), "--raw", "XRANGE", "super-agent:ledger", "-", "+"],
                             capture_output=True, text=True, timeout=10).stdout.splitlines()
        assert {r["run_id"] for r in runs.values()} <= set(ids)


def test_a_forwarded_run_gives_its_peer_slot_back_when_it_ends(cluster):
    a, b = cluster("pod-a"), cluster("pod-b")
    until(lambda: a.status().get("registry", {}).get("live_pods") == 2, 10, "two live pods")
    # Fill pod-a so the next run is forwarded to pod-b, and let that one end quickly.
    holders = [threading.Thread(target=a.run, args=("SLEEP 3", rid())) for _ in range(3)]
    for t in holders:
        t.start()
    until(lambda: a.status()["busy"] == 3, 5, "pod-a full")
    s, events = a.run("hello", rid())
    assert s == 200 and events[-1]["result"]["pod"] == "pod-b"
    for t in holders:
        t.join()
    time.sleep(float(LEASE_TTL) * 1.5)  # several heartbeats: none may bring the finished lease back
    out = run_many(a, 6, "SLEEP 1")
    assert sorted(s for s, _ in out).count(200) == 6, [e[-1] for _, e in out]
