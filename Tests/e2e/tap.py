"""A transparent stdio tap: runs the server given on the command line, passes both directions
through unchanged, and appends every line to the file named by $WIRE_TAP as
`C <line>` (client to server) or `S <line>` (server to client), for validation afterwards."""

import os
import subprocess
import sys
import threading

log = open(os.environ["WIRE_TAP"], "ab", buffering=0)
lock = threading.Lock()
proc = subprocess.Popen(sys.argv[1:], stdin=subprocess.PIPE, stdout=subprocess.PIPE)


def record(tag: bytes, line: bytes) -> None:
    with lock:
        log.write(tag + b" " + line.rstrip(b"\n") + b"\n")


def pump_in() -> None:
    for line in iter(sys.stdin.buffer.readline, b""):
        record(b"C", line)
        proc.stdin.write(line)
        proc.stdin.flush()
    proc.stdin.close()


threading.Thread(target=pump_in, daemon=True).start()
for line in iter(proc.stdout.readline, b""):
    record(b"S", line)
    sys.stdout.buffer.write(line)
    sys.stdout.buffer.flush()
sys.exit(proc.wait())
