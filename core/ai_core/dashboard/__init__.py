"""``ai dashboard``: a read-only web page over the ledger (``pip install "ai-core[dashboard]"``).

Modules: :mod:`.indexes` (the indexes its queries need, part of the schema),
:mod:`.sums` (exact money sums fast on SQLite), :mod:`.rollup` and
:mod:`.rollup_tables` (spend per closed day and month, built on demand), :mod:`.queries` and
:mod:`.conversations` (every number the pages show, as plain data),
:mod:`.access` (who may see what: tokens, tenants, bind addresses),
:mod:`.charts` (server-rendered SVG) and :mod:`.app` (the Starlette app).
Only :mod:`.app` imports the web stack, so the schema never needs it.
"""

from __future__ import annotations
