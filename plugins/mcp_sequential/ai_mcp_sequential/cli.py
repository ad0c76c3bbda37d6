"""``ai-mcp-sequential``: the sequential-thinking MCP server over stdio, for any MCP client.

Each thought is drawn on stderr, as the reference server does, unless the environment variable
``DISABLE_THOUGHT_LOGGING`` is ``true``.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import NoReturn

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """Bad input is one line on stderr and exit status 2, no usage block."""
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ai-mcp-sequential")
    except PackageNotFoundError:  # pragma: no cover - a source tree without metadata
        return "unknown"


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ai-mcp-sequential",
        description="Run the sequential-thinking MCP server over stdio (newline-delimited JSON-RPC).",
        epilog="Set DISABLE_THOUGHT_LOGGING=true to stop drawing each thought on stderr.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument(
        "--max-thoughts",
        type=int,
        default=10_000,
        metavar="N",
        help="thoughts kept in memory per history (thoughtHistoryLength keeps counting; default 10000)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.max_thoughts < 1:
        print("ai-mcp-sequential: --max-thoughts must be at least 1", file=sys.stderr)
        return 2
    import anyio

    from ai_mcp_sequential.server import create_server, log_to_stderr, serve_stdio

    logging_disabled = os.environ.get("DISABLE_THOUGHT_LOGGING", "").lower() == "true"
    server = create_server(max_thoughts=args.max_thoughts, on_thought=None if logging_disabled else log_to_stderr)
    print("Sequential Thinking MCP Server running on stdio", file=sys.stderr, flush=True)
    try:
        anyio.run(serve_stdio, server)
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
