"""ai-mcp-sequential: the sequential-thinking MCP server for ai-core."""
