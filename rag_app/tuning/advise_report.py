"""The report of ``rag-app advise --measure``: measured numbers beside the rules of thumb.

The rules of thumb are the table people decide by (fine-tuning vs RAG: latency
200–500 ms vs 500–1500 ms; accuracy on static data 90–95% vs 85–92%; on
changing data 60–70% vs 90–95%; setup days to weeks vs hours to days; training
$100–$10,000+ up front vs ~$0.001–0.01 a query; updates by retraining vs by
re-embedding; a hybrid said to give the best of both). :func:`text` prints
them next to the measured rows, :func:`disagreements` lists where the user's
numbers fall outside them, and :func:`html` writes one self-contained page
with charts (:mod:`rag_app.measure.report_html`).
"""

from __future__ import annotations

import html as _html
from typing import TYPE_CHECKING, Any, Sequence

from rag_app.measure.report_html import page, svg_chart

if TYPE_CHECKING:
    from rag_app.tuning.advise_setups import Measurement

DAY = 86400.0

#: metric -> (label, {side: (low, high, text)}); ``side`` is "finetune" or "rag".
RULES_OF_THUMB: dict[str, tuple[str, dict[str, tuple[float | None, float | None, str]]]] = {
    "accuracy": ("accuracy, unseen questions", {"finetune": (0.90, 0.95, "90–95%"), "rag": (0.85, 0.92, "85–92%")}),
    "accuracy_seen": ("recall of trained questions", {}),
    "accuracy_after_change": ("accuracy, changed facts", {"finetune": (0.60, 0.70, "60–70% (stale)"),
                                                           "rag": (0.90, 0.95, "90–95% (current)")}),
    "staleness_rate": ("stale answers after the change", {}),
    "latency_p50_ms": ("latency p50", {"finetune": (200, 500, "200–500 ms"), "rag": (500, 1500, "500–1500 ms")}),
    "latency_p95_ms": ("latency p95", {}),
    "setup_s": ("setup time", {"finetune": (DAY, 21 * DAY, "days to weeks"), "rag": (3600, 3 * DAY, "hours to days")}),
    "cost_upfront": ("cost up front", {"finetune": (100, None, "$100–$10,000+ (training)"), "rag": (None, None, "embedding only")}),
    "cost_per_query": ("cost per query", {"finetune": (None, None, "lower (short prompts)"),
                                          "rag": (0.001, 0.01, "~$0.001–0.01")}),
    "cost_per_month": ("cost per month", {}),
    "attribution": ("source attribution", {"finetune": (None, None, "no"), "rag": (None, None, "yes")}),
    "update_s": ("update time", {"finetune": (None, None, "retraining"), "rag": (None, None, "re-embedding")}),
}


def _side(row: dict[str, Any]) -> str | None:
    """Which rule of thumb a row is held to: fine-tuned alone, or retrieval; the hybrid to neither."""
    if row.get("kind") == "finetune":
        return "finetune"
    if row.get("kind") in ("rag", "extra") and row.get("attribution"):
        return "rag"
    return None


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.1f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _money(value: float) -> str:
    return f"${value:.6f}" if 0 < value < 0.01 else f"${value:,.2f}"


def cell(key: str, row: dict[str, Any]) -> str:
    """One measured value as the table prints it."""
    value = row.get(key)
    if key == "attribution":
        return "yes" if value else "no"
    if value is None:
        return "-"
    if key == "staleness_rate":
        return f"{value:.0%}"
    if key.startswith("accuracy"):
        text = f"{value:.0%}"
        if key == "accuracy_after_change" and row.get("accuracy_changed_before") is not None:
            text = f"{row['accuracy_changed_before']:.0%} → {value:.0%}"
        return text
    if key.endswith("_ms"):
        return f"{value:.0f} ms" if value < 10_000 else f"{value / 1000:.1f} s"
    if key == "setup_s":
        what = {"rag": "index", "finetune": "train", "hybrid": "index+train"}.get(row.get("kind", ""), "index")
        return f"{what} {_duration(value)}"
    if key == "update_s":
        what = str(row.get("update") or "")
        return f"{what.split(' (')[0]} {_duration(value)}" + (" (est.)" if "estimate" in what else "")
    if key.startswith("cost"):
        return _money(value)
    return str(value)


def table(rows: Sequence[dict[str, Any]], queries_per_day: float) -> list[list[str]]:
    """The comparison as cells: header, then one line per metric."""
    measured = [r for r in rows if not r.get("skipped")]
    head = ["", "rule: fine-tune", "rule: RAG", *[f"{r['setup']}" for r in measured]]
    lines = [head]
    for key, (label, sides) in RULES_OF_THUMB.items():
        if key == "cost_per_month":
            label = f"cost per month @ {queries_per_day:g}/day"
        lines.append([label, sides.get("finetune", (None, None, ""))[2], sides.get("rag", (None, None, ""))[2],
                      *[cell(key, r) for r in measured]])
    return lines


def _render(lines: list[list[str]]) -> str:
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    out = ["  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def disagreements(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Where the measured numbers fall outside the rules of thumb (and where the hybrid is not the best of both)."""
    notes = []
    for row in rows:
        side = _side(row)
        if row.get("skipped") or side is None:
            continue
        for key, (label, sides) in RULES_OF_THUMB.items():
            low, high, text = sides.get(side, (None, None, ""))
            value = row.get(key)
            if value is None or (low is None and high is None):
                continue
            if low is not None and value < low:
                where = "below"
            elif high is not None and value > high:
                where = "above"
            else:
                continue
            notes.append(f"{row['setup']}: {label} {cell(key, row)} is {where} the rule of thumb ({text})")
    by = {r.get("kind"): r for r in rows if not r.get("skipped") and r.get("kind") in ("rag", "finetune", "hybrid")}
    hybrid = by.get("hybrid")
    if hybrid and hybrid.get("accuracy") is not None:
        for key, label in (("accuracy", "unseen questions"), ("accuracy_after_change", "changed facts")):
            others = [(r[key], r["setup"]) for k, r in by.items() if k != "hybrid" and r.get(key) is not None]
            if hybrid.get(key) is not None and others and hybrid[key] < max(others)[0]:
                best, name = max(others)
                notes.append(f"hybrid: said to give the best of both, but on {label} it scored {hybrid[key]:.0%}, "
                             f"below {name} ({best:.0%})")
    return notes


def text(report: dict[str, Any]) -> str:
    """The whole text report."""
    rows, meta = report["rows"], report["meta"]
    out = [f"Measured on {meta['questions']} questions of {meta['qa']} over {meta['corpus']}"
           + (" (static and after changing the data)" if meta.get("dynamic") else "") + ":", ""]
    out.append(_render(table(rows, meta["queries_per_day"])))
    out += ["", "accuracy: the `rag-app eval` rule (short answers: exact match or the reference appears in the answer; "
            "long ones: 60% of the answer's key words from the reference, at least 3)."]
    if meta.get("dynamic"):
        change = meta.get("change") or {}
        edits = change.get("edited_facts") or []
        count = change.get("edited_count", len(edits) if isinstance(edits, list) else edits)
        out.append(f"changed facts: {_count(count, 'answer')} (or a date, number or name in it) edited in the corpus, "
                   f"{_count(len(change.get('deleted_files') or []), 'file')} deleted "
                   f"({change.get('deleted_questions', 0)} questions lost their source); accuracy on the changed "
                   "questions before → after the change, without retraining. Stale: an answer after the change that "
                   "still gives the old fact, or answers a question whose source was deleted from old text.")
        if change.get("note"):
            out.append(f"note: {change['note']}.")
    for line in meta.get("notes", []):
        out.append(line)
    for row in rows:
        if row.get("skipped"):
            out.append(f"{row['setup']}: skipped, {row['skipped']}")
    out += ["", f"Recommendation: {report['recommendation']}", *[f"  - {r}" for r in report["reasons"]]]
    if meta.get("dynamic") and isinstance((meta.get("change") or {}).get("edited_facts"), list):
        out += ["", "Edited facts:", *[f"  - {e['file']}: {e['old']!r} → {e['new']!r} ({e['kind']}; {e['id']})"
                                       for e in meta["change"]["edited_facts"]]]
    if report.get("disagreements"):
        out += ["", "Where your numbers disagree with the rules of thumb:", *[f"  - {d}" for d in report["disagreements"]]]
    if meta.get("results"):
        out.append(f"Every answer: {meta['results']}")
    if meta.get("steps"):
        out += ["", "Wall time per step: " + ", ".join(f"{s['step']} {_duration(s['seconds'])}" for s in meta["steps"])]
    if meta.get("interrupted"):
        out += ["", f"Partial: {meta['interrupted']}"]
    return "\n".join(out)


_BARS = [
    ("accuracy", "accuracy (static)", "#2e7d32", lambda v: f"{v:.0%}"),
    ("accuracy_after_change", "accuracy, changed facts", "#f9a825", lambda v: f"{v:.0%}"),
    ("latency_p50_ms", "latency p50", "#1565c0", lambda v: f"{v:.0f} ms"),
    ("cost_per_query", "cost/query", "#c62828", lambda v: f"${v:.6f}"),
]
_TIME_BARS = [
    ("setup_s", "setup", "#6a1b9a", lambda v: _duration(v)),
    ("update_s", "update after a change", "#00838f", lambda v: _duration(v)),
]


def html(report: dict[str, Any]) -> str:
    """One self-contained page: the table, the recommendation, two SVG charts."""
    rows, meta = report["rows"], report["meta"]
    lines = table(rows, meta["queries_per_day"])
    head = "".join(f"<th>{_html.escape(c)}</th>" for c in lines[0])
    body = "\n".join("<tr>" + "".join(f"<td>{_html.escape(c)}</td>" for c in line) + "</tr>" for line in lines[1:])
    measured = [{**r, "config": r["setup"]} for r in rows if not r.get("skipped")]
    items = lambda xs: "".join(f"<li>{_html.escape(x)}</li>" for x in xs)  # noqa: E731
    content = f"""<table><thead><tr>{head}</tr></thead><tbody>
{body}
</tbody></table>
<h2>Recommendation: {_html.escape(report['recommendation'])}</h2>
<ul>{items(report['reasons'])}</ul>
{'<h2>Where the numbers disagree with the rules of thumb</h2><ul>' + items(report['disagreements']) + '</ul>' if report.get('disagreements') else ''}
<h2>Accuracy, latency and cost</h2>
<p class="meta">Accuracy on a 0–1 scale; latency and cost scaled to the largest setup.</p>
{svg_chart(measured, _BARS, top={"accuracy": 1.0, "accuracy_after_change": 1.0})}
<h2>Setup and update time</h2>
{svg_chart(measured, _TIME_BARS)}
<p class="meta">{_html.escape('Wall time per step: ' + ', '.join(f"{s['step']} {_duration(s['seconds'])}" for s in meta.get('steps', [])))}</p>
{'<p><b>Partial:</b> ' + _html.escape(meta['interrupted']) + '</p>' if meta.get('interrupted') else ''}"""
    info = {k: meta[k] for k in ("questions", "qa", "corpus", "dynamic", "queries_per_day") if k in meta}
    return page("Fine-tune or RAG? Measured on your data", info, content)


def assemble(m: "Measurement", *, qa: str, corpus: str, seed: int, train: bool, queries_per_day: float,
             criteria: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The whole report as a dict (what ``--json`` prints); ``None`` when nothing was measured.

    Every answer is also written to ``<eval dir>/advise-results.jsonl``.
    """
    from rag_app.tuning.advise_decision import decide, rows
    from rag_app.jsonl import write_jsonl

    table = rows(m, queries_per_day)
    results = None
    if m.eval_dir is not None and m.summaries:
        results = m.eval_dir / "advise-results.jsonl"
        write_jsonl(results, m.question_rows())
    if m.interrupted and not any(r.get("accuracy") is not None for r in table):
        return None
    best, reasons = decide(table)
    return {
        "rows": table,
        "recommendation": best,
        "reasons": reasons,
        "disagreements": disagreements(table),
        "rules_of_thumb": {key: {side: rule[2] for side, rule in sides.items()}
                           for key, (_, sides) in RULES_OF_THUMB.items() if sides},
        "training": m.training,
        "retraining": m.retraining,
        "criteria": criteria,
        "meta": {
            "qa": qa, "corpus": corpus, "questions": m.questions, "seed": seed, "dynamic": m.dynamic,
            "queries_per_day": queries_per_day, "train_questions_are_eval_questions": False, "split": m.split,
            "index": m.index, "change": m.change, "steps": m.steps, "interrupted": m.interrupted,
            "settings": m.settings, "budgets": m.budgets, "notes": notes(m, train), "results": None if results is None else str(results),
        },
    }


def notes(m: "Measurement", train: bool) -> list[str]:
    """What a reader must know to read the numbers honestly."""
    out = ["setups: " + "; ".join(f"{s.name} = {s.config}" for s in m.setups) + "."]
    if m.dynamic:
        out.append("after the change only the changed questions are asked again (edited facts, deleted sources).")
    if train and m.split:
        sp = m.split
        out.append(f"questions: accuracy is on {sp['asked']} questions no model was trained on ({sp['asked_about_seen_documents']} "
                   f"about documents it was trained on, {sp['asked_about_unseen_documents']} about documents it never saw); "
                   f"{sp['trained_pairs']} other questions of those documents were trained, {sp['recall_checked']} of them "
                   "asked again (recall of trained questions: memorised pairs, not used for the verdict)."
                   + (f" {sp['note']}." if sp.get("note") else ""))
    for variant, t in (m.training or {}).items() if train else ():
        device = t.get("device", "?")
        loss = t.get("final_loss")
        out.append(f"trained {variant}: {t.get('examples', '?')} examples, {t.get('steps', '?')} steps in "
                   f"{t.get('seconds') or 0:.0f} s on {device}" + ("" if loss is None else f" (final loss {loss:.2f})") + (" (no GPU seen by torch)" if device == "cpu" else "")
                   + f", ${t.get('cost') or 0:.4f} at ${t.get('cost_per_hour') or 0:g}/h "
                   "(RAG_LOCAL_COST_PER_HOUR on a CPU, RAG_GPU_COST_PER_HOUR on a GPU).")
    if m.budgets:
        b = m.budgets
        capped = ", ".join(f"{name} {s['answers_at_cap']:.0%}" for name, s in m.summaries.items()
                           if s.get("answers_at_cap") is not None)
        out.append(f"budgets: answers {b['max_new_tokens']} new tokens at most ({b['decoding']}"
                   + (f"; answers that used the whole cap: {capped}" if capped else "") + "); rag answers with "
                   f"{b['rag_llm']} ({b['rag_llm_note']}); an unsupported answer is flagged, never replaced by "
                   f"quotes; threads {b['threads']}"
                   + (f"; training {b['train_minutes_per_model']:g} min per model; hf answering and training on {b['device']}"
                      if b.get("train_minutes_per_model") else "") + ".")
    if m.index.get("setup_s") is None:
        out.append("RAG setup time unknown: the index was built before timings were kept; "
                   "delete the evaluation directory (.rag-eval/...) to time a fresh build.")
    elif m.index.get("built"):
        out.append(f"RAG setup: a fresh index of {m.index['chunks']} chunks, timed when it was built ({m.index['built']}).")
    if not m.settings.get("local_cost_per_hour"):
        out.append("local machine time is priced at $0 (set RAG_LOCAL_COST_PER_HOUR to charge it).")
    return out
