"""Run a stdio MCP server and write every line each way to a log: ``wiretap.py LOG CMD [ARGS...]``.

The tests put it between the SDK's stdio client and a server to validate the raw JSON-RPC
messages against the MCP schema. Each log line is ``{"from": "client" | "server", "message": ...}``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from typing import IO


def _pump(source: IO[bytes], sink: IO[bytes], log: IO[str], lock: threading.Lock, side: str) -> None:
    for line in iter(source.readline, b""):
        with lock:
            log.write(json.dumps({"from": side, "message": json.loads(line)}) + "\n")
            log.flush()
        sink.write(line)
        sink.flush()
    sink.close()


def main() -> int:
    log_path, *command = sys.argv[1:]
    child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert child.stdin is not None and child.stdout is not None
    lock = threading.Lock()
    with open(log_path, "a", encoding="utf-8") as log:
        to_server = threading.Thread(
            target=_pump, args=(sys.stdin.buffer, child.stdin, log, lock, "client"), daemon=True
        )
        to_server.start()
        _pump(child.stdout, sys.stdout.buffer, log, lock, "server")
    return child.wait()


if __name__ == "__main__":
    sys.exit(main())
