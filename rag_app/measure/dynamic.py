"""``rag-app eval --dynamic``: change the facts, reindex incrementally, ask again.

This is the case where a fine-tuned model goes stale. On a private copy of the
corpus (``<eval dir>/dynamic/corpus``, restored from the original at the start
of every run):

1. index the copy and ask the sampled questions (*before*);
2. for a share of them, find the reference answer in the corpus files (case- and
   whitespace-insensitive; in the gold passage, else the gold source, else the
   source retrieved for it; a long answer's first date, number or name) and
   replace it there with a different value of the same kind taken from the
   corpus (:mod:`rag_app.measure.facts`); every edit is recorded;
3. delete a share of the documents (gold sources of other sampled questions);
4. reindex incrementally and ask again (*after*).

Reported: accuracy against the *new* facts before (what a model frozen on the
old documents would score) and after, and the staleness rate: answers after
the change that still give the old fact, or cite a deleted document.
"""

from __future__ import annotations

import random
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

from rag_app.measure import metrics
from rag_app.measure.eval_config import EvalConfig
from rag_app.measure.facts import ValuePool, find_all, locate
from rag_app.measure.evaluate import Evaluator
from rag_app.measure.qa_sets import QAItem
from rag_app.measure.scoring import score_answer



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


@dataclass
class ChangePlan:
    """What the change step does to the corpus copy: edited file texts, the edits, the deleted files."""

    texts: dict[str, str]  # every file's text after the edits
    pairs: list[tuple[QAItem, QAItem]]  # (item with the old fact as reference, item with the new one)
    edits: list[dict[str, Any]]  # one record per edited fact (``meta.change.edited_facts`` of advise)
    edited_files: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)


def plan_edits(
    items: Sequence[QAItem], files: dict[str, str], share: float, pool: Sequence[str], rng: random.Random,
    retrieved: dict[str, Sequence[str]] | None = None, min_edits: int = 0, said: Mapping[str, str] | None = None,
) -> tuple[dict[str, str], list[tuple[QAItem, QAItem]], list[dict[str, Any]]]:
    """Edited file texts, ``(old, new)`` item pairs and a record per edit (:mod:`rag_app.measure.facts`).

    About ``share`` of the questions (at least ``min_edits``, as many as can be) get their fact
    replaced, in the passage that states it, by a different value of the same kind from the corpus.
    ``said``: each question's answer before the change; facts an answer stated are edited first, since
    only a fact a setup gave before can show whether it follows the change (a question it got wrong
    before is usually wrong after too, whatever the documents say; a long answer rarely names the
    one word edited inside its reference unless it named it before).
    """
    retrieved = retrieved or {}
    values = ValuePool(files.values(), extra_names=pool)
    wanted = max(min_edits, round(share * len(items)))
    texts = dict(files)
    pairs: list[tuple[QAItem, QAItem]] = []
    edits: list[dict[str, Any]] = []
    touched: set[str] = set()  # passages already edited: another question's context no longer matches them
    order = rng.sample(list(items), len(items))
    first = {it.id: locate(it.answer or "", it.contexts, it.sources, files, retrieved.get(it.id, ())) for it in order}
    # known facts first; then a date, number or name: a phrase has no "value of the same kind", only
    # another answer of the set
    said = said or {}
    known = {i for i, loc in first.items() if loc and i in said and metrics.contains_answer(said[i], [loc.fact])}
    order.sort(key=lambda it: (it.id not in known,
                               first[it.id] is None or first[it.id].kind == "phrase"))  # type: ignore[union-attr]
    for item in order:
        if len(pairs) >= wanted:
            break
        if not item.answer or first[item.id] is None or any(" ".join(c.split()) in touched for c in item.contexts):
            continue
        loc = locate(item.answer, item.contexts, item.sources, texts, retrieved.get(item.id, ()))
        if loc is None:
            continue
        text = texts[loc.file]
        value = values.replacement(loc.fact, text, rng, phrases=pool)
        spans = find_all(loc.fact, text, loc.start, loc.end)
        if not spans or find_all(value, text):
            continue
        changed = text
        for s, e in reversed(spans):
            changed = changed[:s] + value + changed[e:]
        end = loc.end + len(spans) * len(value) - sum(e - s for s, e in spans)
        touched.add(" ".join(text[loc.start:loc.end].split()))
        texts[loc.file] = changed
        short = metrics.is_short(item.answer)
        old = item if short else replace(item, answer=loc.fact, meta={"all_answers": [loc.fact]})
        new = replace(item, answer=value, contexts=[changed[loc.start:end]], meta={"all_answers": [value]})
        pairs.append((old, new))
        edits.append({"id": item.id, "question": item.question, "file": loc.file, "kind": loc.kind, "old": loc.fact,
                      "new": value, "occurrences": len(spans), "found_by": loc.found_by,
                      "answer": "short" if short else "long (a fact inside it)"})
    return texts, pairs, edits


def plan_change(items: Sequence[QAItem], files: dict[str, str], share: float, delete_share: float, rng: random.Random,
                pool: Sequence[str], retrieved: dict[str, Sequence[str]] | None = None, min_edits: int = 0,
                said: Mapping[str, str] | None = None) -> ChangePlan:
    """Edits (:func:`plan_edits`), then ``delete_share`` of the files deleted: sources of questions left unedited."""
    texts, pairs, edits = plan_edits(items, files, share, pool, rng, retrieved, min_edits, said)
    edited_files = {n for n in files if texts[n] != files[n]}
    edited_ids = {old.id for old, _ in pairs}
    names = sorted(files)
    candidates = sorted({f for it in items if it.id not in edited_ids for f in _files_of(it, files)} - edited_files)
    if not candidates:
        candidates = sorted(set(names) - edited_files)
    n_delete = min(len(candidates), max(1, round(delete_share * len(names)))) if delete_share > 0 else 0
    deleted = set(rng.sample(candidates, n_delete)) if n_delete else set()
    return ChangePlan(texts, pairs, edits, edited_files, deleted)


def asked_after(plan: ChangePlan, items: Sequence[QAItem]) -> int:
    """How many of ``items`` are asked again after ``plan`` (``only_changed``): edited, or their source deleted."""
    edited = {old.id for old, _ in plan.pairs}

    def lost(item: QAItem) -> bool:
        own = set(_files_of(item, plan.texts))
        return bool(own) and own <= plan.deleted

    return sum(1 for it in items if it.id in edited or lost(it))


def _files_of(item: QAItem, files: dict[str, str]) -> list[str]:
    names = {s.replace("\\", "/").rsplit("/", 1)[-1] for s in item.sources}
    return [f for f in files if f in item.sources or f.rsplit("/", 1)[-1] in names]


def run_dynamic(
    evaluator: Evaluator,
    items: Sequence[QAItem],
    config: EvalConfig,
    share: float = 0.3,
    delete_share: float = 0.1,
    seed: int = 0,
    pool: Sequence[str] | None = None,
    only_changed: bool = False,
    min_edits: int = 0,
    plans: list[ChangePlan] | None = None,
    also_before: Sequence[QAItem] = (),
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Before/after accuracy on changed facts and the staleness rate; and per-question rows.

    ``only_changed``: after the change, ask only the questions whose fact changed or whose
    source was deleted (no accuracy on unchanged questions after; much faster with slow models).
    ``min_edits``: edit at least this many facts when that many can be located.
    ``plans``: the same change for several configurations: an empty list receives this run's
    plan (made with the sources retrieved before the change), a filled one is applied as it is.
    ``also_before``: more questions asked before the change only (rows with ``phase="seen"``).
    """
    rng = random.Random(seed)
    work = evaluator.eval_dir / "dynamic" / "corpus"
    sync_copy(evaluator.corpus, work)
    work = work.resolve()
    app = evaluator.app(config, corpus=work, suffix="-dyn")
    evaluator.reindex(app, work)  # the copy may hold last run's edits: bring the index back first

    evaluator.progress(f"[dynamic] asking {len(items) + len(also_before)} questions before the change ...")
    before = {it.id: evaluator.ask(app, config, it, work) for it in items}
    seen_rows = [{**evaluator.ask(app, config, it, work), "phase": "seen", "change": "none"} for it in also_before]

    if plans:
        plan = plans[0]
    else:
        names = sorted(p.relative_to(work).as_posix() for p in work.rglob("*") if p.is_file())
        files = {n: (work / n).read_text(encoding="utf-8", errors="replace") for n in names}
        retrieved = {i: [r["source"] for r in row.get("retrieved", [])] for i, row in before.items()}
        plan = plan_change(items, files, share, delete_share, rng, pool or [it.answer or "" for it in items],
                           retrieved, min_edits, said={i: row.get("answer") or "" for i, row in before.items()})
        if plans is not None:
            plans.append(plan)
    pairs, edited_files, deleted = plan.pairs, plan.edited_files, plan.deleted
    for name in edited_files:
        (work / name).write_text(plan.texts[name], encoding="utf-8")
    for name in deleted:
        (work / name).unlink()
    evaluator.progress(f"[dynamic] changed {len(pairs)} facts in {len(edited_files)} files, deleted {len(deleted)} files; reindexing ...")
    report = evaluator.reindex(app, work)
    deleted_names = {Path(name).name for name in deleted}

    evaluator.progress(f"[dynamic] asking {'the changed' if only_changed else len(items)} questions after the change ...")
    new_items = {new.id: new for _, new in pairs}
    old_items = {old.id: old for old, _ in pairs}
    rows: list[dict[str, Any]] = []
    stale_edit = stale_delete = cited_deleted = 0
    acc_new_before: list[float] = []
    acc_old_before: list[float] = []  # the edited fact (not the whole long reference) given before the change
    acc_new_after: list[float] = []
    acc_same_before: list[float] = []
    acc_same_after: list[float] = []
    deleted_questions = 0
    for item in items:
        own = set(_files_of(item, plan.texts))
        lost = bool(own) and own <= deleted
        unchanged = item.id not in new_items and not lost
        if only_changed and unchanged:
            before[item.id].update(phase="before", change="none")
            rows.append(before[item.id])
            continue
        after = evaluator.ask(app, config, new_items.get(item.id, item), work)
        old_refs = old_items[item.id].references if item.id in old_items else item.references
        cites_deleted = any(r["source"] in deleted_names for r in after.get("retrieved", []))
        says_old = bool(old_refs) and metrics.contains_answer(after.get("answer", ""), old_refs) == 1.0
        if item.id in new_items:
            change = "edited"
            was = score_answer(before[item.id].get("answer", ""), new_items[item.id])
            acc_new_before.append(float(bool(was["correct"])))
            acc_old_before.append(float(bool(score_answer(before[item.id].get("answer", ""), old_items[item.id])["correct"])))
            acc_new_after.append(float(bool(after.get("correct"))))
            stale = says_old and not after.get("correct")
            stale_edit += stale
        elif lost:
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
                     old_answer=old_items[item.id].answer if change == "edited" else None)
        rows += [before[item.id], after]

    changed = len(pairs) + deleted_questions
    summary = {
        "config": config.label,
        "questions": len(items),
        "edited_facts": len(pairs),
        "edits": plan.edits,
        "edited_files": sorted(edited_files),
        "deleted_files": sorted(deleted),
        "deleted_questions": deleted_questions,
        "reindex": {k: report[k] for k in ("added", "updated", "deleted", "unchanged", "embedded", "duration_s")},
        "accuracy_new_facts_before": metrics.mean(acc_new_before),
        "accuracy_new_facts_after": metrics.mean(acc_new_after),
        "accuracy_old_facts_before": metrics.mean(acc_old_before),
        "accuracy_unchanged_before": metrics.mean(acc_same_before),
        "accuracy_unchanged_after": metrics.mean(acc_same_after),
        "stale_edited": stale_edit,
        "stale_deleted": stale_delete,
        "cites_deleted": cited_deleted,
        "staleness_rate": (stale_edit + stale_delete) / changed if changed else None,
    }
    if not pairs:
        summary["note"] = "no sampled question's answer (or a date, number or name in it) was found in the corpus: only deletions were measured"
    return summary, rows + seen_rows


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
