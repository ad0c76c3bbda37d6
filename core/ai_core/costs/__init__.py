"""Pricing: the price table and the arithmetic of cost."""

from ai_core.costs.estimate import estimate_usage
from ai_core.costs.pricing import PriceBook, compute_cost

__all__ = ["PriceBook", "compute_cost", "estimate_usage"]
