"""Charts drawn on the server as SVG: no script, no CDN, readable without JavaScript.

Geometry uses floats; the numbers a person reads beside a chart are the exact
Decimal totals of the tables, and each bar's tooltip carries its exact value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from decimal import Decimal
from html import escape
from typing import Any

__all__ = ["PALETTE", "color_of", "stacked_bars"]

PALETTE = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#eeca3b", "#b279a2", "#9d755d")
OTHER_COLOR = "#bab0ac"


def color_of(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def _axis_label(value: float) -> str:
    if value == 0:
        return "0"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 1:
        return f"{value:,.2f}"
    return f"{value:.2g}"


def stacked_bars(
    series: Sequence[dict[str, Any]],
    keys: Sequence[Any],
    *,
    label: Callable[[Any], str] = str,
    value_text: Callable[[Any], str] = str,
    title: str = "",
    width: int = 900,
    height: int = 260,
) -> str:
    """An SVG of one stacked bar per bucket (``series`` items: ``start``,
    ``values`` by key, ``other``, ``total``), coloured by ``keys``' order."""
    left, right, top, bottom = 64, 8, 10, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max((float(item["total"]) for item in series), default=0.0) or 1.0
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for step in range(5):
        value = peak * step / 4
        y = top + plot_h - plot_h * step / 4
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="axis">{_axis_label(value)}</text>')
    count = max(len(series), 1)
    slot = plot_w / count
    bar = max(slot * 0.8, 1.0)
    every = max(1, math.ceil(count / max(1, plot_w // 80)))  # a label per ~80 px, never overlapping
    for index, item in enumerate(series):
        x = left + index * slot + (slot - bar) / 2
        y = top + plot_h
        stack: list[tuple[str, Any, str]] = [
            (label(key), item["values"].get(key, 0), color_of(n)) for n, key in enumerate(keys)
        ]
        stack.append(("other", item.get("other", 0), OTHER_COLOR))
        for name, value, color in stack:
            amount = float(value or 0)
            if amount <= 0:
                continue
            h = plot_h * amount / peak
            y -= h
            tip = f"{item['start']} · {name}: {value_text(value)}"
            out.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{max(h, 0.5):.1f}" fill="{color}">'
                f"<title>{escape(tip)}</title></rect>"
            )
        if index % every == 0:
            out.append(
                f'<text x="{x + bar / 2:.1f}" y="{height - bottom + 16}" text-anchor="middle" class="axis">'
                f"{escape(str(item['start']))}</text>"
            )
    if not series:
        out.append(
            f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" class="axis">nothing in this range</text>'
        )
    out.append("</svg>")
    return "".join(out)


def money_value(value: Decimal | int) -> str:
    """Exact money for a tooltip."""
    from ai_core.storage.browse import money_text

    return money_text(Decimal(value)) or "0"
