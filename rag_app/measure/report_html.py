"""A self-contained HTML page for ``rag-app eval --out report.html``: the table and an SVG chart.

Plain HTML and inline SVG, no scripts, no dependencies: it opens anywhere and
can be mailed as one file. The chart draws, per configuration, three bars:
accuracy (0–1), total latency p50 and cost per query, the last two scaled to
the largest value among the configurations (the absolute value is printed on
each bar).
"""

from __future__ import annotations

import html
import json
from typing import Any, Sequence

BARS = [
    ("accuracy", "accuracy", "#2e7d32", lambda v: f"{v:.2f}"),
    ("total_p50_ms", "latency p50", "#1565c0", lambda v: f"{v:.0f} ms"),
    ("cost_per_query", "cost/query", "#c62828", lambda v: f"${v:.5f}"),
]

_TABLE_KEYS = [
    ("config", "config"), ("questions", "n"), ("hit", "hit@k"), ("source_hit", "source@k"), ("mrr", "MRR"),
    ("ndcg", "nDCG@k"), ("em", "EM"), ("f1", "F1"), ("contains", "contains"), ("key_recall", "key recall"), ("key_precision", "key precision"),
    ("accuracy", "accuracy"), ("supported_wrong", "shown supported, wrong"), ("wrong_flagged", "wrong, flagged"),
    ("citation_precision", "citation precision"), ("judge_correct", "judge: correct"), ("judge_faithful", "judge: faithful"),
    ("retrieve_p50_ms", "retrieve p50 ms"), ("retrieve_p95_ms", "retrieve p95 ms"),
    ("generate_p50_ms", "generate p50 ms"), ("generate_p95_ms", "generate p95 ms"),
    ("prompt_tokens_mean", "prompt tokens"), ("completion_tokens_mean", "completion tokens"),
    ("cost_per_query", "$ / query"),
]


def _fmt(key: str, value: Any) -> str:
    if value is None:
        return "–"
    if key == "cost_per_query":
        return f"{value:.6f}"
    if isinstance(value, float):
        return f"{value:.0f}" if key.endswith(("_ms", "_mean")) else f"{value:.3f}"
    return str(value)


def svg_chart(summaries: Sequence[dict[str, Any]], bars: Sequence[tuple[str, str, str, Any]] = BARS,
              top: dict[str, float] | None = None) -> str:
    """Grouped horizontal bars, one group per ``config``; each bar scaled to ``top`` or the largest value."""
    rows = [s for s in summaries if not s.get("skipped")]
    bar_h, gap, plot_w = 14, 10, 420
    label_w = max([len(str(r["config"])) for r in rows] + [20]) * 7 + 16
    group_h = len(bars) * bar_h + gap
    height = 40 + group_h * max(len(rows), 1)
    scale = {key: max((r.get(key) or 0.0 for r in rows), default=0.0) for key, *_ in bars}
    scale.update(top if top is not None else {"accuracy": 1.0})
    top = scale
    legend = max([len(name) for _, name, _, _ in bars] + [10]) * 7 + 30
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{max(label_w + plot_w + 120, label_w + legend * len(bars))}" height="{height}" '
        f'font-family="sans-serif" font-size="12" role="img" aria-label="{html.escape(", ".join(b[1] for b in bars))} per configuration">'
    ]
    for i, (_, name, colour, _) in enumerate(bars):
        x = label_w + i * legend
        parts.append(f'<rect x="{x}" y="6" width="12" height="12" fill="{colour}"/><text x="{x + 16}" y="16">{name}</text>')
    for g, row in enumerate(rows):
        y0 = 32 + g * group_h
        parts.append(f'<text x="{label_w - 8}" y="{y0 + group_h / 2}" text-anchor="end">{html.escape(str(row["config"]))}</text>')
        for b, (key, _, colour, show) in enumerate(bars):
            value = row.get(key)
            y = y0 + b * bar_h
            if value is None:
                parts.append(f'<text x="{label_w + 4}" y="{y + 11}" fill="#777">n/a</text>')
                continue
            width = plot_w * (value / top[key]) if top[key] else 0.0
            parts.append(f'<rect x="{label_w}" y="{y}" width="{width:.1f}" height="{bar_h - 2}" fill="{colour}"/>')
            parts.append(f'<text x="{label_w + width + 4:.1f}" y="{y + 11}">{html.escape(show(value))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render(summaries: Sequence[dict[str, Any]], title: str, meta: dict[str, Any], dynamic: dict[str, Any] | None = None) -> str:
    """The whole page."""
    keys = [(k, h) for k, h in _TABLE_KEYS if k == "config" or any(s.get(k) is not None for s in summaries)]
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h in keys)
    body = []
    for s in summaries:
        if s.get("skipped"):
            body.append(f'<tr><td>{html.escape(s["config"])}</td><td colspan="{len(keys) - 1}">skipped: {html.escape(s["skipped"])}</td></tr>')
        else:
            body.append("<tr>" + "".join(f"<td>{html.escape(_fmt(k, s.get(k)))}</td>" for k, _ in keys) + "</tr>")
    dyn = ""
    if dynamic:
        dyn = f"<h2>Changing data</h2><pre>{html.escape(json.dumps(dynamic, indent=2))}</pre>"
    content = f"""<table><thead><tr>{head}</tr></thead><tbody>
{chr(10).join(body)}
</tbody></table>
<h2>Accuracy, latency and cost</h2>
<p class="meta">Accuracy on a 0–1 scale; latency and cost scaled to the largest configuration.</p>
{svg_chart(summaries)}
{dyn}"""
    return page(title, meta, content)


def page(title: str, meta: dict[str, Any], content: str) -> str:
    """A whole self-contained page: the title, a line of ``meta`` and ``content`` (HTML)."""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; font-size: 13px; }}
th, td {{ border: 1px solid #ccc; padding: 4px 8px; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
th {{ background: #f3f3f3; }}
.meta {{ color: #555; font-size: 13px; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p class="meta">{html.escape(" · ".join(f"{k}: {v}" for k, v in meta.items()))}</p>
{content}
</body></html>
"""
