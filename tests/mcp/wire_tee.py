"""Run an MCP stdio server and log every line that crosses its stdin and stdout.

    python wire_tee.py LOGFILE COMMAND [ARGS...]

Each logged line is ``c <json>`` (client to server) or ``s <json>`` (server to
client), exactly the bytes on the wire, so a test can validate the traffic
against the published MCP schema.
"""

from __future__ import annotations

import subprocess
import sys
import threading


def main() -> None:
    log = open(sys.argv[1], "a", buffering=1, encoding="utf-8")  # noqa: SIM115 (open for the whole run)
    lock = threading.Lock()
    child = subprocess.Popen(sys.argv[2:], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert child.stdin is not None and child.stdout is not None

    def record(direction: str, line: bytes) -> None:
        with lock:
            log.write(f"{direction} {line.decode('utf-8').rstrip()}\n")

    def to_client() -> None:
        assert child.stdout is not None
        for line in child.stdout:
            record("s", line)
            sys.stdout.buffer.write(line)
            sys.stdout.buffer.flush()

    reader = threading.Thread(target=to_client, daemon=True)
    reader.start()
    for line in sys.stdin.buffer:
        record("c", line)
        child.stdin.write(line)
        child.stdin.flush()
    child.stdin.close()
    try:
        child.wait(timeout=5)
    except subprocess.TimeoutExpired:
        child.kill()
    reader.join(timeout=5)


if __name__ == "__main__":
    main()
