"""Alembic environment: runs on the connection ai-core hands it.

ai-core calls Alembic programmatically (:mod:`ai_core.storage.migrate`) with
an open connection in ``config.attributes["connection"]``, inside its own
transaction and migration lock; there is no alembic.ini to find.
"""

from __future__ import annotations

from alembic import context

from ai_core.storage.models import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable by running the alembic CLI by hand
    raise RuntimeError("ai-core migrations run through `ai db upgrade` (ai_core.storage.migrate), not the alembic CLI")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
