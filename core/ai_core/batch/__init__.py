"""Batches through the whole pipeline.

Each item of a batch is one conversation turn through the normal pipeline
(budgets, pricing, the ledger, events): ``AI.batch`` / ``AI.abatch`` send them
at bounded concurrency and return one :class:`BatchResult` per item, with its
answer or its error, never all-or-nothing. ``ai batch`` runs a JSONL file the
same way and resumes after an interruption (:mod:`.resume`); ``--provider-batch``
hands the items to OpenAI's Batch API instead (:mod:`.provider_job`).
"""

from __future__ import annotations

from ai_core.batch.items import BatchItem, BatchResult, parse_item
from ai_core.batch.runner import batch_conversation_id, run_batch

__all__ = ["BatchItem", "BatchResult", "batch_conversation_id", "parse_item", "run_batch"]
