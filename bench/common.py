"""What the benchmark scripts share: the children they start (so nothing outlives a run, also on
SIGINT/SIGTERM), their error type, and the facts about the machine printed with every result."""

from __future__ import annotations

import atexit
import datetime
import os
import platform
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any


class BenchError(RuntimeError):
    pass


class Children:
    """Every child process a benchmark starts. `kill_all` ends them: with `term_grace` > 0 each gets
    SIGTERM and that many seconds to exit (a pool drains and exits 0) before SIGKILL."""

    def __init__(self, term_grace: float = 0.0) -> None:
        self._procs: set[subprocess.Popen[bytes]] = set()
        self._lock = threading.Lock()
        self.term_grace = term_grace

    def add(self, proc: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
        with self._lock:
            self._procs.add(proc)
        return proc

    def discard(self, proc: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._procs.discard(proc)

    def kill_all(self) -> None:
        with self._lock:
            procs = list(self._procs)
            self._procs.clear()
        for proc in procs:
            if self.term_grace > 0 and proc.poll() is None:
                try:
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(timeout=self.term_grace)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    pass
            kill(proc)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    def clean_up_on_exit(self) -> None:
        """Kills every child at interpreter exit and on SIGTERM/SIGINT (exiting 128 + signal)."""
        def on_signal(signum: int, _frame: Any) -> None:
            self.kill_all()
            sys.exit(128 + signum)

        atexit.register(self.kill_all)
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)


def kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL, unless it has already exited."""
    if proc.poll() is None:
        try:
            proc.kill()
        except ProcessLookupError:
            pass


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def machine_info() -> dict[str, Any]:
    """Date, CPUs, memory, kernel, Python and the load average now."""
    mem_kib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ"),
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
        "mem_gib": round(mem_kib / 1024 / 1024, 1) if mem_kib else None,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "loadavg_at_start": loadavg(),
    }
