"""Bar charts as inline SVG text, for the data-quality report.

Our own small module rather than a plotting library: the report needs bar charts only, and they must be
static markup inside one HTML file, with no script, font or style fetched from anywhere. matplotlib or
plotly would bring a large dependency for a few rectangles (and plotly's charts are script). Every bar
carries its number as text and marked bars are hatched and labelled, so a chart reads in black and white
and in print.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from html import escape

WIDTH = 720
HEIGHT = 260
MARGIN_LEFT = 56
MARGIN_RIGHT = 12
MARGIN_TOP = 28
MARGIN_BOTTOM = 58
# Above this many bars, numbers over the bars and every x label would overlap; above the second, a
# mark's word would, and its symbol stands in.
MAX_LABELLED_BARS = 16
MAX_WORDED_BARS = 16
MAX_X_LABELS = 12
Y_TICKS = 4


@dataclasses.dataclass(frozen=True)
class Bar:
    """One bar: its x label, height, and an optional mark: hatching, and above the bar the mark's word,
    or its symbol where the bars are too narrow for words."""

    label: str
    value: int
    mark: str | None = None
    symbol: str | None = None


def bar_chart(bars: Sequence[Bar], *, chart_id: str, title: str, x_label: str, y_label: str) -> str:
    """An SVG element (a string) drawing `bars` left to right, with axes, labels and a title.

    Args:
        bars: the bars, in order.
        chart_id: unique in the page (names the chart's hatching pattern).
        title: the chart's accessible name (also drawn above it).
        x_label: what the bars are (drawn under the axis).
        y_label: what the heights count.

    Returns:
        `<svg ...>...</svg>`, sized to the page's width by CSS.
    """
    plot_width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_height = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    top = _nice_ceiling(max((bar.value for bar in bars), default=0))
    slot = plot_width / max(len(bars), 1)
    bar_width = max(slot * 0.7, 1.0)
    labelled = len(bars) <= MAX_LABELLED_BARS
    label_every = max(1, math.ceil(len(bars) / MAX_X_LABELS))
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
        'xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<defs><pattern id="{chart_id}-hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#000" stroke-width="3"/></pattern></defs>',
        f'<text x="{MARGIN_LEFT}" y="16" class="chart-title">{escape(title)}</text>',
    ]
    base = MARGIN_TOP + plot_height
    for tick in range(Y_TICKS + 1):
        value = top * tick / Y_TICKS
        y = base - plot_height * tick / Y_TICKS
        parts.append(
            f'<line x1="{MARGIN_LEFT}" y1="{y:.1f}" x2="{WIDTH - MARGIN_RIGHT}" y2="{y:.1f}" class="grid"/>'
        )
        parts.append(
            f'<text x="{MARGIN_LEFT - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">{value:,.0f}</text>'
        )
    for position, bar in enumerate(bars):
        height = plot_height * bar.value / top if top else 0.0
        x = MARGIN_LEFT + slot * position + (slot - bar_width) / 2
        y = base - height
        fill = f"url(#{chart_id}-hatch)" if bar.mark else "#4a4a4a"
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_width:.1f}" height="{height:.1f}" fill="{fill}" '
            f'stroke="#000" stroke-width="0.5"><title>{escape(bar.label)}: {bar.value:,}'
            f"{' (' + escape(bar.mark) + ')' if bar.mark else ''}</title></rect>"
        )
        middle = x + bar_width / 2
        above = [f"{bar.value:,}"] if labelled else []
        if bar.mark:
            worded = len(bars) <= MAX_WORDED_BARS or not bar.symbol
            above.append(bar.mark if worded else str(bar.symbol))
        for line, text in enumerate(reversed(above)):
            parts.append(
                f'<text x="{middle:.1f}" y="{y - 4 - 11 * line:.1f}" class="value" '
                f'text-anchor="middle">{escape(text)}</text>'
            )
        if position % label_every == 0:
            parts.append(
                f'<text x="{middle:.1f}" y="{base + 14}" class="tick" text-anchor="middle">'
                f"{escape(bar.label)}</text>"
            )
    parts.append(
        f'<line x1="{MARGIN_LEFT}" y1="{base}" x2="{WIDTH - MARGIN_RIGHT}" y2="{base}" class="axis"/>'
    )
    parts.append(
        f'<text x="{MARGIN_LEFT + plot_width / 2:.1f}" y="{HEIGHT - 10}" class="axis-label" '
        f'text-anchor="middle">{escape(x_label)}</text>'
    )
    parts.append(
        f'<text x="14" y="{MARGIN_TOP + plot_height / 2:.1f}" class="axis-label" text-anchor="middle" '
        f'transform="rotate(-90 14 {MARGIN_TOP + plot_height / 2:.1f})">{escape(y_label)}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _nice_ceiling(value: int) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above `value` (1 for nothing)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return float(step * power)
    return float(10 * power)  # pragma: no cover - the loop ends at 10
