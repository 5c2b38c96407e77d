"""Shared fixtures: the real `super-agent` binary over real pipes."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from wire import WireLog  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def binary() -> str:
    path = os.environ.get("SUPER_AGENT_BIN")
    if not path:
        out = subprocess.run(["swift", "build", "--show-bin-path"], cwd=ROOT, capture_output=True, text=True, check=True)
        path = os.path.join(out.stdout.strip(), "super-agent")
    assert os.access(path, os.X_OK), f"super-agent binary not found at {path}; run swift build"
    return path


@pytest.fixture
def state_dir():
    d = tempfile.mkdtemp(prefix="sa-e2e-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def server_env(state_dir: str, role: str | None = "cto", **extra: str) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "SUPER_AGENT_STATE_DIR": state_dir, "HOME": state_dir}
    if role is not None:
        env["ROLE_ID"] = role
    env.update(extra)
    return env


class RawServer:
    """`super-agent mcp` over raw pipes; every line it writes is validated against the wire types."""

    def __init__(self, env: dict[str, str], args: list[str] | None = None) -> None:
        self.wire = WireLog()
        self.proc = subprocess.Popen(
            [binary(), "mcp", *(args or [])],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        self.lines: queue.Queue = queue.Queue()
        self.stderr: list[bytes] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()
        self._next_id = 1000

    def _read(self) -> None:
        for line in iter(self.proc.stdout.readline, b""):
            self.lines.put(line)
        self.lines.put(None)

    def _read_err(self) -> None:
        for line in iter(self.proc.stderr.readline, b""):
            self.stderr.append(line)

    def write(self, data: bytes) -> None:
        for line in data.split(b"\n"):
            if line:
                self.wire.client_line(line)
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send(self, message: dict | list) -> None:
        self.write(json.dumps(message).encode() + b"\n")

    def request(self, method: str, params: dict | None = None, id=None) -> object:
        if id is None:
            self._next_id += 1
            id = self._next_id
        msg = {"jsonrpc": "2.0", "id": id, "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)
        return id

    def recv(self, timeout: float = 5.0) -> dict:
        line = self.lines.get(timeout=timeout)
        assert line is not None, f"server closed stdout; stderr: {b''.join(self.stderr)[-2000:]!r}"
        return self.wire.server_line(line)

    def response(self, id, timeout: float = 5.0) -> dict:
        """Reads messages until the response to `id`; notifications seen on the way are kept."""
        deadline = time.monotonic() + timeout
        self.notifications: list[dict] = getattr(self, "notifications", [])
        while True:
            msg = self.recv(max(0.01, deadline - time.monotonic()))
            if "method" in msg:
                self.notifications.append(msg)
                continue
            if msg.get("id") == id:
                return msg
            raise AssertionError(f"unexpected message while waiting for {id}: {msg}")

    def call(self, method: str, params: dict | None = None, timeout: float = 5.0) -> dict:
        return self.response(self.request(method, params), timeout)

    def initialize(self, version: str = "2025-11-25") -> dict:
        r = self.call(
            "initialize",
            {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "e2e", "version": "1"}},
        )
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return r

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self, timeout: float = 3.0) -> int:
        if self.proc.stdin and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)


@pytest.fixture
def raw(state_dir):
    servers: list[RawServer] = []

    def start(role: str | None = "cto", args: list[str] | None = None, **extra: str) -> RawServer:
        s = RawServer(server_env(state_dir, role, **extra), args)
        servers.append(s)
        return s

    yield start
    for s in servers:
        if s.alive():
            s.proc.kill()
            s.proc.wait()


MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": {"name": "e2e", "version": "1"},
}


def modern(params: dict | None = None, **meta) -> dict:
    p = dict(params or {})
    p["_meta"] = {**MODERN_META, **meta}
    return p
