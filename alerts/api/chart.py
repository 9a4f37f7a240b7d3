"""The customer's 30-day income/expenditure chart, drawn as inline SVG on the server.

No JavaScript and no chart library: one bar pair per day (income above the
axis, expenditure below), scaled to the largest day, with the day's figures
in each bar's tooltip.

>>> from datetime import date
>>> from decimal import Decimal
>>> svg = income_expenditure_svg([DayFlow(date(2026, 1, 1), Decimal(100), Decimal(40))])
>>> svg.startswith("<svg") and "income 100" in svg
True
"""

from __future__ import annotations

from decimal import Decimal
from html import escape

from markupsafe import Markup

from alerts.casefile import DayFlow

WIDTH, HEIGHT, PAD = 640, 200, 24
INCOME_COLOUR, SPENT_COLOUR = "#2e7d32", "#c62828"


def income_expenditure_svg(flows: list[DayFlow]) -> Markup:
    """Bars for each day's income (up) and expenditure (down)."""
    peak = max([f.income for f in flows] + [f.expenditure for f in flows] + [Decimal(1)])
    half = (HEIGHT - 2 * PAD) / 2
    axis = PAD + half
    slot = (WIDTH - 2 * PAD) / max(len(flows), 1)
    bar = max(slot * 0.7, 1.0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" class="chart" '
        'aria-label="daily income and expenditure, last 30 days">',
        f'<line x1="{PAD}" y1="{axis}" x2="{WIDTH - PAD}" y2="{axis}" stroke="#888"/>',
        f'<text x="{PAD}" y="14" font-size="11">income (up) / expenditure (down), '
        f"peak {escape(str(peak))}</text>",
    ]
    for i, flow in enumerate(flows):
        x = PAD + i * slot + (slot - bar) / 2
        up = float(flow.income / peak) * half
        down = float(flow.expenditure / peak) * half
        tip = escape(
            f"{flow.day.isoformat()}: income {flow.income}, expenditure {flow.expenditure}"
        )
        parts.append(
            f"<g><title>{tip}</title>"
            f'<rect x="{x:.1f}" y="{axis - up:.1f}" width="{bar:.1f}" height="{up:.1f}" '
            f'fill="{INCOME_COLOUR}"/>'
            f'<rect x="{x:.1f}" y="{axis:.1f}" width="{bar:.1f}" height="{down:.1f}" '
            f'fill="{SPENT_COLOUR}"/></g>'
        )
        if i % 5 == 0 or i == len(flows) - 1:
            parts.append(
                f'<text x="{x:.1f}" y="{HEIGHT - 6}" font-size="10">'
                f"{flow.day.strftime('%m-%d')}</text>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))
