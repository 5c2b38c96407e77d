#!/usr/bin/env python3
"""The Redis-backed RunRegistry: acquire+release operations per second under concurrent clients, with
the count of over-admissions (must be zero); the in-process LocalRunRegistry as context.

  python3 bench/registry_bench.py [--runs 3] [--clients 32] [--pods 3] [--slots 3] [--seconds 5]
                                  [--hold-ms 0] [--json out.json] [-- extra registry-bench args]
  SCRATCH=/tmp/regbench-build python3 bench/registry_bench.py     # build outside .build

Steps: start a private redis-server on a free loopback port in a temp dir (no persistence:
--save "" --appendonly no); `swift build -c release --product registry-bench` (with
--scratch-path $SCRATCH when SCRATCH is set); run the binary --runs times against that Redis (each
run uses its own key prefix); print each run's summary and a table; stop Redis.

The measuring and the over-admission checks are in bench/registry-bench/main.swift. The exit status
is 1 when any run reported an over-admission, a leaked lease or a pod that left `.shared`.
Only the Python standard library is used.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import cpu_model

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
            s.sendall(b"*1\r\n$4\r\nPING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class Redis:
    """A throwaway redis-server on 127.0.0.1, stopped (by its own pid) on exit."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.dir = tempfile.mkdtemp(prefix="registry-bench-redis.")
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    def start(self) -> None:
        for _ in range(5):  # the free port can be taken between the probe and the bind
            self.port = free_port()
            self.proc = subprocess.Popen(
                [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--dir", self.dir,
                 "--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes",
                 "--logfile", os.path.join(self.dir, "redis.log")],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and self.proc.poll() is None:
                if ping(self.port):
                    return
                time.sleep(0.02)
            self.stop()
        raise SystemExit(f"registry_bench: redis-server did not start; see {self.dir}/redis.log")

    def version(self) -> str:
        out = subprocess.run([self.binary, "--version"], capture_output=True, text=True).stdout
        return out.split("v=")[1].split()[0] if "v=" in out else out.strip()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def build() -> Path:
    swift = os.environ.get("SWIFT", "swift")
    base = [swift, "build", "-c", "release", "--product", "registry-bench"]
    if os.environ.get("SCRATCH"):
        base += ["--scratch-path", os.environ["SCRATCH"]]
    print("+ " + " ".join(base), file=sys.stderr, flush=True)
    subprocess.run(base, cwd=ROOT, check=True)
    bin_dir = subprocess.run(base + ["--show-bin-path"], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()
    return Path(bin_dir) / "registry-bench"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--pods", type=int, default=3)
    ap.add_argument("--slots", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--hold-ms", type=float, default=0.0)
    ap.add_argument("--redis-server", default=shutil.which("redis-server") or "redis-server")
    ap.add_argument("--bin", help="a built registry-bench (skips the swift build)")
    ap.add_argument("--json", help="write every run's JSON (and the machine) to this file")
    ap.add_argument("extra", nargs="*", help="more registry-bench arguments, after --")
    args = ap.parse_args()

    binary = Path(args.bin) if args.bin else build()
    redis = Redis(args.redis_server)
    results: list[dict[str, Any]] = []
    started = datetime.datetime.now(datetime.timezone.utc)
    try:
        redis.start()
        url = f"redis://127.0.0.1:{redis.port}/0"
        cmd = [str(binary), "--redis-url", url, "--clients", str(args.clients), "--pods", str(args.pods),
               "--slots", str(args.slots), "--seconds", str(args.seconds), "--hold-ms", str(args.hold_ms), *args.extra]
        print("+ " + " ".join(cmd), file=sys.stderr, flush=True)
        for i in range(args.runs):
            at = datetime.datetime.now(datetime.timezone.utc)
            proc = subprocess.run(cmd, capture_output=True, text=True)
            lines = proc.stdout.strip().splitlines()
            if proc.returncode == 2 or not lines or not lines[-1].startswith("{"):
                sys.stderr.write(proc.stdout + proc.stderr)
                raise SystemExit(f"registry_bench: registry-bench failed (exit {proc.returncode})")
            result = json.loads(lines[-1])
            result["at"] = at.strftime("%H:%M:%SZ")
            result["exit"] = proc.returncode
            results.append(result)
            print(f"--- run {i + 1}/{args.runs} at {result['at']}")
            print("\n".join(lines[:-1]), flush=True)
            if proc.stderr.strip():
                sys.stderr.write(proc.stderr)
    finally:
        redis.cleanup()

    print()
    print(f"{'run (UTC)':<10} {'redis ops/s':>12} {'local ops/s':>12} {'redis/local':>11} "
          f"{'acq p50 µs':>10} {'acq p99 µs':>10} {'granted':>9} {'full':>9} {'over-adm':>8}")
    for r in results:
        rd, lc = r.get("redis", {}), r.get("local", {})
        print(f"{r['at']:<10} {rd.get('ops_per_s', 0):>12,.0f} {lc.get('ops_per_s', 0):>12,.0f} "
              f"{r.get('redis_vs_local', 0):>11.4f} {rd.get('acquire_us', {}).get('p50', 0):>10.1f} "
              f"{rd.get('acquire_us', {}).get('p99', 0):>10.1f} {rd.get('granted', 0):>9,} {rd.get('full', 0):>9,} "
              f"{r['over_admissions']:>8}")
    if results and "redis" in results[0]:
        med = statistics.median(r["redis"]["ops_per_s"] for r in results)
        print(f"median redis ops/s over {len(results)} runs: {med:,.0f}; "
              f"over-admissions in all runs: {sum(r['over_admissions'] for r in results)}")

    machine = {
        "nproc": os.cpu_count(), "cpu_model": cpu_model(), "kernel": platform.release(),
        "python": platform.python_version(), "redis": redis.version(),
        "date_utc": started.strftime("%Y-%m-%d %H:%M:%SZ"), "load_avg": os.getloadavg(),
    }
    print(f"machine: nproc {machine['nproc']}, {machine['cpu_model']}, Linux {machine['kernel']}, "
          f"redis {machine['redis']}; started {machine['date_utc']}; load avg now {machine['load_avg'][0]:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine, "runs": results}, indent=2) + "\n")
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
