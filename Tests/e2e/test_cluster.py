"""Scale-out end to end: redis-server on a free loopback port and three `super-agent pool` pods
sharing one RunRegistry through it. A pod forwards a run to the peer holding its slot, a killed
pod's slots come back within the lease TTL, and a dead Redis degrades pods to their own slots."""

from __future__ import annotations

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

from conftest import RawServer, modern, server_env
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
    threads = [threading.Thread(target=b.run, args=("SLEEP 30", rid())) for _ in range(3)]
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
