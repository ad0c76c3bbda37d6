"""Integrations left unconfigured cost no import: a stateless AI with no webhooks or
notifications never loads SQLAlchemy or smtplib (a fresh interpreter checks it)."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys, anyio
from ai_core import AI

async def main():
    async with AI(persistence=False) as ai:
        await ai.conversation("fake/echo").user("hi").asend()

anyio.run(main)
print(",".join(m for m in ("sqlalchemy", "smtplib", "ai_core.integrations.webhooks",
                           "ai_core.integrations.notifications", "ai_core.integrations.analytics")
               if m in sys.modules))
"""


def test_a_stateless_unconfigured_ai_imports_no_storage_or_mail_code() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == ""


def test_a_configured_webhook_listener_is_still_loaded() -> None:
    import json
    import os

    endpoint = {"name": "w", "url": "http://127.0.0.1:9/hook", "secret": "whsec_" + "QUJD" * 8, "events": ["*"]}
    env = {**os.environ, "AI_WEBHOOKS": json.dumps([endpoint])}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, check=True, env=env
    )
    assert "ai_core.integrations.webhooks" in done.stdout.strip().split(",")
