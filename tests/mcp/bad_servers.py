"""A tiny stdio MCP server that misbehaves on purpose (standard library only, so it starts fast).

    python bad_servers.py ok|crash|hang|garbage|stubborn

It speaks just enough of the 2025-11-25 protocol for the SDK's client: it
answers ``server/discover`` with "method not found" (so the client falls back
to ``initialize``), then ``initialize``, ``tools/list`` and ``tools/call``.
Tool ``pid`` answers with its process id; tool ``work`` answers, or, by kind:
``crash`` exits mid-call, ``hang`` never answers, ``garbage`` writes lines
that are not JSON-RPC instead of the answer; ``stubborn`` works but does not
exit when its stdin closes (only a kill ends it).
"""

from __future__ import annotations

import json
import os
import sys
import time

KIND = sys.argv[1] if len(sys.argv) > 1 else "ok"
TOOLS = [
    {"name": "work", "description": "Does the work, or misbehaves.", "inputSchema": {"type": "object"}},
    {"name": "pid", "description": "The server's process id.", "inputSchema": {"type": "object"}},
]


def send(message: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def text(request_id: object, value: str) -> None:
    send({"jsonrpc": "2.0", "id": request_id, "result": {"content": [{"type": "text", "text": value}]}})


def main() -> None:
    for line in sys.stdin:
        message = json.loads(line)
        method, request_id = message.get("method"), message.get("id")
        if request_id is None:
            continue  # a notification
        if method == "initialize":
            result = {
                "protocolVersion": "2025-11-25",
                "capabilities": {"tools": {}},
                "serverInfo": {"name": f"bad-{KIND}", "version": "1"},
            }
            send({"jsonrpc": "2.0", "id": request_id, "result": result})
        elif method == "tools/list":
            send({"jsonrpc": "2.0", "id": request_id, "result": {"tools": TOOLS}})
        elif method == "tools/call" and message["params"]["name"] == "pid":
            text(request_id, str(os.getpid()))
        elif method == "tools/call":
            if KIND == "crash":
                os._exit(3)
            if KIND == "hang":
                time.sleep(3600)
            if KIND == "garbage":
                sys.stdout.write('this is not json-rpc\n{"jsonrpc": "2.0", "id": 987654, "result": 42}\n')
                sys.stdout.flush()
                continue
            text(request_id, f"worked: {message['params'].get('arguments', {}).get('text', '')}")
        else:
            error = {"code": -32601, "message": f"method not found: {method}"}
            send({"jsonrpc": "2.0", "id": request_id, "error": error})
    if KIND == "stubborn":  # outlives its stdin: only a kill ends it
        time.sleep(3600)


if __name__ == "__main__":
    main()
