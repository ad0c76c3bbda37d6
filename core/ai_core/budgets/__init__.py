"""Budgets: spending limits per user, tenant, tag, conversation or globally.

Import-light: the middleware and ledgers load only when used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ai_core.budgets.middleware import BudgetMiddleware
    from ai_core.budgets.model import Budget
    from ai_core.errors import BudgetUnknownCostError

__all__ = ["Budget", "BudgetMiddleware", "BudgetUnknownCostError"]

_LAZY = {
    "Budget": "ai_core.budgets.model",
    "BudgetUnknownCostError": "ai_core.errors",
    "BudgetMiddleware": "ai_core.budgets.middleware",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ai_core.budgets' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
