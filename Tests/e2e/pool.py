"""A real `super-agent pool` process on loopback, with the fake agent CLIs on its PATH."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

from conftest import binary

FAKE_BIN = str(Path(__file__).resolve().parents[1] / "fixtures" / "bin")
TOKEN = "test-token-0123456789"


def fake_path() -> str:
    return FAKE_BIN + ":" + os.environ.get("PATH", "/usr/bin:/bin")


class Pool:
    """`super-agent pool --listen 127.0.0.1:0`; the bound port is read from its log."""

    def __init__(self, state_dir: str, roots: list[str], slots: int = 3, token: str | None = TOKEN,
                 extra_env: dict[str, str] | None = None, args: list[str] | None = None) -> None:
        env = {
            "PATH": fake_path(), "HOME": state_dir, "SUPER_AGENT_STATE_DIR": state_dir,
            "SUPER_AGENT_WORKSPACE_ROOTS": ":".join(roots), "SUPER_AGENT_POD_NAME": "pod-test",
            "SUPER_AGENT_LOG_LEVEL": "info", "ANTHROPIC_API_KEY": "sk-test-not-real", "POOL_SECRET": "must-not-leak",
        }
        if token is not None:
            env["SUPER_AGENT_POOL_TOKEN"] = token
        env.update(extra_env or {})
        self.proc = subprocess.Popen(
            [binary(), "pool", "--listen", "127.0.0.1:0", "--slots", str(slots), *(args or [])],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        )
        self.log: list[dict] = []
        self.port: int | None = None
        ready = threading.Event()

        def read_log() -> None:
            for line in iter(self.proc.stderr.readline, b""):
                try:
                    entry = json.loads(line)
                except ValueError:
                    entry = {"raw": line.decode(errors="replace")}
                self.log.append(entry)
                if entry.get("message") == "pool listening":
                    self.port = entry["fields"]["port"]
                    ready.set()
            ready.set()

        threading.Thread(target=read_log, daemon=True).start()
        ready.wait(10)
        assert self.port, f"pool did not start: {self.log}"
        self.url = f"http://127.0.0.1:{self.port}"

    def conn(self, timeout: float = 10) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method: str, path: str, body: dict | bytes | None = None, token: str | None = TOKEN,
                headers: dict | None = None) -> tuple[int, dict, bytes]:
        c = self.conn()
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        if data is not None:
            h.setdefault("Content-Type", "application/json")
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        payload = r.read()
        c.close()
        return r.status, dict(r.getheaders()), payload

    def run(self, prompt: str, run_id: str, **fields) -> tuple[int, list[dict]]:
        """POST /v1/runs and read the whole NDJSON stream (or the error body)."""
        body = {"run_id": run_id, "task": fields.pop("task", "e2e"), "prompt": prompt,
                "adapter": fields.pop("adapter", "claude"), **fields}
        status, _, payload = self.request("POST", "/v1/runs", body)
        if status != 200:
            return status, [json.loads(payload)]
        return status, [json.loads(line) for line in payload.splitlines() if line.strip()]

    def status(self) -> dict:
        s, _, payload = self.request("GET", "/v1/status")
        assert s == 200, payload
        return json.loads(payload)

    def metrics(self) -> str:
        s, _, payload = self.request("GET", "/metrics", token=None)
        assert s == 200
        return payload.decode()

    def metric(self, name: str) -> float:
        m = re.search(r"^" + re.escape(name) + r" ([0-9.e+-]+)$", self.metrics(), re.M)
        return float(m.group(1)) if m else 0.0

    def wait_idle(self, timeout: float = 2.0) -> float:
        """Seconds until no slot is busy; raises if that takes longer than `timeout`."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.status()["busy"] == 0:
                return time.monotonic() - t0
            time.sleep(0.02)
        raise AssertionError(f"slots still busy after {timeout}s: {self.status()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
