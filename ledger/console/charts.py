"""Server-side SVG charts: no script, no chart library, readable without JavaScript."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

from ledger.console.web import yuan

SERIES = (
    ("received_from_above", "上级补助", "#4c78a8"),
    ("own_appropriation", "本级拨款", "#72b7b2"),
    ("sent_below", "补助下级", "#f58518"),
    ("paid_to_people", "发放到人", "#54a24b"),
    ("balance", "结余", "#b279a2"),
)


def flow_chart(tree: dict[str, Any], *, width: int = 760) -> str:
    """A grouped horizontal bar chart of the fund flow: the node itself and each child
    (rolled up), one bar per figure, labelled in yuan. Returns the SVG markup."""
    root = tree["root"]
    nodes = [(root["name"] + "（本级）", root["own"])]
    moved = [
        (c["name"], c["rolled_up"])
        for c in root.get("children", [])
        if any(Decimal(c["rolled_up"][key]) for key, _, _ in SERIES)
    ]
    nodes += moved[:30]  # units with no money moved are in the table, not drawn as empty bars
    peak = max(
        (abs(Decimal(n[1][key])) for n in nodes for key, _, _ in SERIES), default=Decimal(0)
    ) or Decimal(1)
    label_w, bar_h, gap = 150, 12, 14
    group_h = bar_h * len(SERIES) + gap
    legend_h = 28
    height = legend_h + group_h * len(nodes) + 10
    plot_w = width - label_w - 130
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" '
        f'width="100%" aria-labelledby="flow-title"><title id="flow-title">资金流向图</title>',
        "<style>text{font:12px sans-serif;fill:#222}</style>",
    ]
    for i, (_, name, colour) in enumerate(SERIES):
        x = label_w + i * 110
        out.append(f'<rect x="{x}" y="6" width="12" height="12" fill="{colour}"/>')
        out.append(f'<text x="{x + 16}" y="16">{name}</text>')
    for n, (name, figures) in enumerate(nodes):
        top = legend_h + n * group_h
        out.append(
            f'<text x="{label_w - 8}" y="{top + group_h / 2}" text-anchor="end">{escape(name)}</text>'
        )
        for i, (key, label, colour) in enumerate(SERIES):
            value = Decimal(figures[key])
            if not value:
                continue
            w = abs(value) / peak * plot_w  # a pixel width, kept in Decimal like the money
            y = top + i * bar_h
            out.append(
                f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h - 2}" fill="{colour}">'
                f"<title>{escape(name)} {label} {yuan(figures[key])} 元</title></rect>"
            )
            out.append(
                f'<text x="{label_w + w + 4:.1f}" y="{y + bar_h - 3}">{yuan(figures[key])}</text>'
            )
    out.append("</svg>")
    return "".join(out)
