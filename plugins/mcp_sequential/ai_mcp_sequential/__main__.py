"""``python -m ai_mcp_sequential``: the same as the ``ai-mcp-sequential`` console script."""

import sys

from ai_mcp_sequential.cli import main

sys.exit(main())
