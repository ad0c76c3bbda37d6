"""An in-process MCP server with one tool, registered as ``acme-tools``."""

from __future__ import annotations

from typing import Any

from ai_core import ToolResult, ToolSpec


class AcmeTools:
    async def list_tools(self) -> list[ToolSpec]:
        return [
            ToolSpec(
                name="feet_to_metres",
                description="Convert a length in feet to metres.",
                parameters={"type": "object", "properties": {"feet": {"type": "number"}}, "required": ["feet"]},
            )
        ]

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> ToolResult:
        if name != "feet_to_metres" or not isinstance(arguments.get("feet"), int | float):
            return ToolResult(content=f"bad call: {name}({arguments})", is_error=True)
        return ToolResult(content=f"{arguments['feet'] * 0.3048:.4f}")

    async def aclose(self) -> None:
        pass
