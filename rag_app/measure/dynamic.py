"""``rag-app eval --dynamic``: change the facts, reindex incrementally, ask again.

This is the case where a fine-tuned model goes stale. On a private copy of the
corpus (``<eval dir>/dynamic/corpus``, restored from the original at the start
of every run):

1. index the copy and ask the sampled questions (*before*);
2. for a share of them whose short answer appears verbatim in their gold
   passage, replace the answer in that passage with a clearly different value
   (numbers shifted, names swapped for another answer of the set that shares no
   word with the old one);
3. delete a share of the documents (gold sources of other sampled questions);
4. reindex incrementally and ask again (*after*).

Reported: accuracy against the *new* facts before (what a model frozen on the
old documents would score) and after, and the staleness rate: answers after
the change that still give the old fact, or cite a deleted document.
"""

from __future__ import annotations

import random
import re
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

from rag_app.measure import metrics
from rag_app.measure.eval_config import EvalConfig
from rag_app.measure.evaluate import Evaluator
from rag_app.measure.qa_sets import QAItem
from rag_app.measure.scoring import score_answer

_NUMBER = re.compile(r"\d+")
_FALLBACK_NAMES = ["Quillon Marsh", "Verrity Oakes", "Tamsin Vale", "Orrin Castellane"]


def sync_copy(original: Path, copy: Path) -> None:
    """Make ``copy`` equal ``original`` without touching files that already match (mtimes kept)."""
    copy.mkdir(parents=True, exist_ok=True)
    wanted = {p.relative_to(original) for p in original.rglob("*") if p.is_file()}
    for path in sorted(copy.rglob("*"), reverse=True):
        rel = path.relative_to(copy)
        if path.is_file() and rel not in wanted:
            path.unlink()
    for rel in wanted:
        src, dst = original / rel, copy / rel
        if dst.is_file() and dst.stat().st_size == src.stat().st_size and dst.read_bytes() == src.read_bytes():
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)


def new_value(old: str, pool: Sequence[str], avoid: str, rng: random.Random) -> str:
    """A replacement for the fact ``old`` that shares no word with it and is absent from ``avoid``."""
    if _NUMBER.search(old):
        def shift(match: re.Match[str]) -> str:
            n = int(match.group(0))
            return str(n + 17 if 1000 <= n <= 2100 else n * 3 + 7)

        return _NUMBER.sub(shift, old)
    old_words = set(metrics.normalize_answer(old).split())
    text = metrics.normalize_answer(avoid)
    candidates = [
        p for p in dict.fromkeys(pool)
        if p and not _NUMBER.search(p) and metrics.is_short(p)
        and not old_words & set(metrics.normalize_answer(p).split())
        and f" {metrics.normalize_answer(p)} " not in f" {text} "
    ]
    alike = [p for p in candidates if p[:1].isupper() == old[:1].isupper()]  # a name for a name
    if alike or candidates:
        return rng.choice(alike or candidates)
    return next((n for n in _FALLBACK_NAMES if n.lower() not in avoid.lower()), _FALLBACK_NAMES[0])


def plan_edits(
    items: Sequence[QAItem], files: dict[str, str], share: float, pool: Sequence[str], rng: random.Random
) -> tuple[dict[str, str], list[tuple[QAItem, QAItem]]]:
    """Edited file texts and ``(old item, item with the new fact)`` pairs."""
    eligible = [
        it for it in items
        if it.answer and metrics.is_short(it.answer) and it.contexts and it.sources
        and it.answer in it.contexts[0] and it.sources[0] in files and it.contexts[0] in files[it.sources[0]]
    ]
    wanted = min(len(eligible), round(share * len(items)))
    texts = dict(files)
    pairs: list[tuple[QAItem, QAItem]] = []
    for item in rng.sample(eligible, len(eligible)):
        if len(pairs) >= wanted:
            break
        assert item.answer is not None
        source, passage = item.sources[0], item.contexts[0]
        if passage not in texts[source]:
            continue  # another question already changed this passage
        value = new_value(item.answer, pool, texts[source], rng)
        changed = passage.replace(item.answer, value)
        texts[source] = texts[source].replace(passage, changed, 1)
        pairs.append((item, replace(item, answer=value, contexts=[changed], meta={"all_answers": [value]})))
    return texts, pairs


def run_dynamic(
    evaluator: Evaluator,
    items: Sequence[QAItem],
    config: EvalConfig,
    share: float = 0.3,
    delete_share: float = 0.1,
    seed: int = 0,
    pool: Sequence[str] | None = None,
    only_changed: bool = False,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Before/after accuracy on changed facts and the staleness rate; and per-question rows.

    ``only_changed``: after the change, ask only the questions whose fact changed or whose
    source was deleted (no accuracy on unchanged questions after; much faster with slow models).
    """
    rng = random.Random(seed)
    work = evaluator.eval_dir / "dynamic" / "corpus"
    sync_copy(evaluator.corpus, work)
    work = work.resolve()
    app = evaluator.app(config, corpus=work, suffix="-dyn")
    evaluator.reindex(app, work)  # the copy may hold last run's edits: bring the index back first

    evaluator.progress(f"[dynamic] asking {len(items)} questions before the change ...")
    before = {it.id: evaluator.ask(app, config, it, work) for it in items}

    names = sorted(p.relative_to(work).as_posix() for p in work.rglob("*") if p.is_file())
    files = {n: (work / n).read_text(encoding="utf-8", errors="replace") for n in names}
    texts, pairs = plan_edits(items, files, share, pool or [it.answer or "" for it in items], rng)
    edited_files = {n for n in names if texts[n] != files[n]}
    edited_ids = {old.id for old, _ in pairs}
    candidates = sorted({s for it in items if it.id not in edited_ids for s in it.sources if s in files} - edited_files)
    if not candidates:
        candidates = sorted(set(names) - edited_files)
    n_delete = min(len(candidates), max(1, round(delete_share * len(names)))) if delete_share > 0 else 0
    deleted = set(rng.sample(candidates, n_delete)) if n_delete else set()
    for name in edited_files:
        (work / name).write_text(texts[name], encoding="utf-8")
    for name in deleted:
        (work / name).unlink()
    evaluator.progress(f"[dynamic] changed {len(pairs)} facts in {len(edited_files)} files, deleted {len(deleted)} files; reindexing ...")
    report = evaluator.reindex(app, work)
    deleted_names = {Path(name).name for name in deleted}

    evaluator.progress(f"[dynamic] asking {'the changed' if only_changed else len(items)} questions after the change ...")
    new_items = {new.id: new for _, new in pairs}
    rows: list[dict[str, Any]] = []
    stale_edit = stale_delete = cited_deleted = 0
    acc_new_before: list[float] = []
    acc_new_after: list[float] = []
    acc_same_before: list[float] = []
    acc_same_after: list[float] = []
    deleted_questions = 0
    for item in items:
        unchanged = item.id not in new_items and not (item.sources and set(item.sources) <= deleted)
        if only_changed and unchanged:
            before[item.id].update(phase="before", change="none")
            rows.append(before[item.id])
            continue
        after = evaluator.ask(app, config, new_items.get(item.id, item), work)
        old_refs = item.references
        cites_deleted = any(r["source"] in deleted_names for r in after.get("retrieved", []))
        says_old = bool(old_refs) and metrics.contains_answer(after.get("answer", ""), old_refs) == 1.0
        if item.id in new_items:
            change = "edited"
            was = score_answer(before[item.id].get("answer", ""), new_items[item.id])
            acc_new_before.append(float(bool(was["correct"])))
            acc_new_after.append(float(bool(after.get("correct"))))
            stale = says_old and not after.get("correct")
            stale_edit += stale
        elif item.sources and set(item.sources) <= deleted:
            change = "deleted"
            deleted_questions += 1
            stale = cites_deleted or says_old
            stale_delete += stale
        else:
            change = "none"
            stale = cites_deleted
            if before[item.id].get("correct") is not None:
                acc_same_before.append(float(bool(before[item.id]["correct"])))
                acc_same_after.append(float(bool(after.get("correct"))))
        cited_deleted += cites_deleted
        before[item.id].update(phase="before", change=change)
        after.update(phase="after", change=change, stale=stale, cites_deleted=cites_deleted,
                     old_answer=item.answer if change == "edited" else None)
        rows += [before[item.id], after]

    changed = len(pairs) + deleted_questions
    summary = {
        "config": config.label,
        "questions": len(items),
        "edited_facts": len(pairs),
        "edited_files": sorted(edited_files),
        "deleted_files": sorted(deleted),
        "deleted_questions": deleted_questions,
        "reindex": {k: report[k] for k in ("added", "updated", "deleted", "unchanged", "embedded", "duration_s")},
        "accuracy_new_facts_before": metrics.mean(acc_new_before),
        "accuracy_new_facts_after": metrics.mean(acc_new_after),
        "accuracy_unchanged_before": metrics.mean(acc_same_before),
        "accuracy_unchanged_after": metrics.mean(acc_same_after),
        "stale_edited": stale_edit,
        "stale_deleted": stale_delete,
        "cites_deleted": cited_deleted,
        "staleness_rate": (stale_edit + stale_delete) / changed if changed else None,
    }
    if not pairs:
        summary["note"] = "no question has a short answer found verbatim in its passage: only deletions were measured"
    return summary, rows


def dynamic_text(summary: dict[str, Any]) -> str:
    def f(value: Any) -> str:
        return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)

    r = summary["reindex"]
    lines = [
        f"Changing data [{summary['config']}]: {summary['edited_facts']} facts changed in {len(summary['edited_files'])} files, "
        f"{len(summary['deleted_files'])} files deleted ({summary['deleted_questions']} questions lose their source)",
        f"  incremental reindex: {r['embedded']} chunks embedded, {r['deleted']} deleted, {r['unchanged']} unchanged in {r['duration_s']:.2f} s",
        f"  accuracy on the new facts: before {f(summary['accuracy_new_facts_before'])}  after {f(summary['accuracy_new_facts_after'])}",
        f"  accuracy on unchanged questions: before {f(summary['accuracy_unchanged_before'])}  after {f(summary['accuracy_unchanged_after'])}",
        f"  staleness rate: {f(summary['staleness_rate'])} ({summary['stale_edited']} answers still give the old fact, "
        f"{summary['stale_deleted']} of the deleted-source questions answered from old text; {summary['cites_deleted']} cite a deleted file)",
    ]
    if summary.get("note"):
        lines.append(f"  note: {summary['note']}")
    return "\n".join(lines)
