"""Budgets: spending limits per user, tenant, tag, conversation or globally.

Import-light: the middleware and ledgers load only when used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ai_core._lazy import lazy_exports

if TYPE_CHECKING:
    from ai_core.budgets.ledger import expire_stale_holds
    from ai_core.budgets.middleware import BudgetMiddleware
    from ai_core.budgets.model import Budget
    from ai_core.errors import BudgetUnknownCostError

__all__ = ["Budget", "BudgetMiddleware", "BudgetUnknownCostError", "expire_stale_holds"]

_LAZY = {
    "Budget": "ai_core.budgets.model",
    "BudgetUnknownCostError": "ai_core.errors",
    "BudgetMiddleware": "ai_core.budgets.middleware",
    "expire_stale_holds": "ai_core.budgets.ledger",
}


__getattr__ = lazy_exports(__name__, _LAZY)
