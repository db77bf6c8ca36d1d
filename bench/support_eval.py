"""Measure the answer support check on the shared evaluation sets, with the local model.

For a seeded sample of questions it retrieves, generates with the ``local`` backend (answers are
cached in ``--cache`` so the support check can be re-measured without regenerating), runs the
support check, and prints:

- how many *wrong* answers are flagged (the whole answer unsupported) and how many *right*
  answers are flagged by mistake; right/wrong by token F1 against the reference (SQuAD) or by
  token precision against the reference section (Python FAQ, whose references are whole sections);
- the "not in the documents" rate on questions whose source article was removed from the corpus;
- the added latency per answer of the support check (goal: under 50 ms).

    PYTHONPATH=. python bench/support_eval.py --n 80 --holdout-n 30
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import string
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EVALDATA = ROOT.parent / "shared" / "evaldata"
HOLDOUT = {
    "squad_expmrc": ["Victoria_(Australia).txt", "Harvard_University.txt", "Geology.txt"],
    "python_faq": ["faq__library.rst.txt", "faq__windows.rst.txt", "faq__gui.rst.txt"],
}


def normalize(text: str) -> list[str]:
    """SQuAD's answer normalisation: lower case, no punctuation, articles or citation markers."""
    text = re.sub(r"\[\d+\]", " ", text.lower())
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return text.split()


def f1(prediction: str, reference: str) -> float:
    pred, ref = normalize(prediction), normalize(reference)
    common = sum((Counter(pred) & Counter(ref)).values())
    if not pred or not ref or not common:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def precision(prediction: str, reference: str) -> float:
    from chains.text import content_words

    pred, ref = content_words(prediction), set(content_words(reference))
    return sum(w in ref for w in pred) / len(pred) if pred else 0.0


def is_right(dataset: str, row: dict, prediction: str) -> bool:
    if dataset == "squad_expmrc":
        answers = row.get("meta", {}).get("all_answers") or [row["answer"]]
        return max(f1(prediction, a) for a in answers) >= 0.5
    return precision(prediction, row["answer"]) >= 0.5


def build_app(dataset: str, work: Path, exclude: list[str], llm: str):
    from rag_app import RagApp, Settings

    name = f"{dataset}-{'holdout' if exclude else 'full'}"
    app = RagApp(Settings(), persist_dir=str(work / name), llm=llm, exclude=",".join(exclude))
    app.reindex([EVALDATA / dataset / "corpus"])
    return app



def generate(app, key: str, question: str, cache: dict, cache_file: Path) -> dict:
    """The local model's answer to ``question`` from the retrieved passages (cached)."""
    if key not in cache:
        backend = app.llm()
        documents = app.retrieve(question)
        t0 = time.perf_counter()
        text = backend.answer(question, documents)
        cache[key] = {"key": key, "answer": text, "generate_ms": (time.perf_counter() - t0) * 1000}
        with cache_file.open("a") as fh:
            fh.write(json.dumps(cache[key]) + "\n")
    return cache[key]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="squad_expmrc,python_faq")
    parser.add_argument("--n", type=int, default=60, help="questions per dataset, full corpus")
    parser.add_argument("--holdout-n", type=int, default=20, help="questions per dataset, source removed")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--variants", default="full,holdout", help="full corpus, and/or source articles removed")
    parser.add_argument("--llm", default="local")
    parser.add_argument("--work", default="/tmp/rag-support-eval", help="indexes and the answer cache")
    parser.add_argument("--rows", help="write one JSON line per question here")
    parser.add_argument("--summarize", metavar="ROWS", help="only summarize a --rows file written before")
    args = parser.parse_args(argv)

    if args.summarize:
        from chains.support import DEFAULT_THRESHOLD

        rows = [json.loads(line) for line in Path(args.summarize).read_text().splitlines()]
        for key in dict.fromkeys((r["dataset"], r["variant"]) for r in rows):
            part = [r for r in rows if (r["dataset"], r["variant"]) == key]
            print(json.dumps({"dataset": key[0], "variant": key[1], **summarize(part, DEFAULT_THRESHOLD)}))
        return 0
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    cache_file = work / f"answers-{args.llm.replace(':', '_').replace('/', '_')}.jsonl"
    cache = {r["key"]: r for r in (json.loads(l) for l in cache_file.read_text().splitlines())} if cache_file.exists() else {}
    rows_out = open(args.rows, "w") if args.rows else None
    for dataset in args.datasets.split(","):
        qa = [json.loads(line) for line in (EVALDATA / dataset / "qa.jsonl").read_text().splitlines()]
        held = HOLDOUT[dataset]
        sample = random.Random(args.seed).sample(qa, min(args.n, len(qa)))
        held_qa = [r for r in qa if r["sources"][0] in held]
        held_sample = random.Random(args.seed + 1).sample(held_qa, min(args.holdout_n, len(held_qa)))
        for variant, questions, exclude in (("full", sample, []), ("holdout", held_sample, held)):
            if variant not in args.variants.split(","):
                continue
            app = build_app(dataset, work, exclude, args.llm)
            stats = evaluate(app, dataset, variant, questions, cache, cache_file, args, rows_out)
            app.close()
            print(json.dumps({"dataset": dataset, "variant": variant, **stats}), flush=True)
    if rows_out:
        rows_out.close()
    return 0


def evaluate(app, dataset, variant, questions, cache, cache_file, args, rows_out) -> dict:
    """One row per question; a summary of the rows."""
    checker = app.support_checker()
    rows = []
    for i, qa in enumerate(questions):
        question = qa["question"]
        documents = app.retrieve(question)
        row = {"dataset": dataset, "variant": variant, "id": qa["id"], "question": question,
               "top_score": documents[0].metadata["score"] if documents else 0.0}
        if checker.not_in_documents(documents):
            row["status"] = "not_in_documents"
        else:
            generated = generate(app, f"{dataset}/{variant}/{qa['id']}", question, cache, cache_file)
            answer = generated["answer"]
            cpu, embedded = time.process_time(), app.embedder.embedded_texts
            support = checker.check(question, answer, documents)
            cpu_ms = (time.process_time() - cpu) * 1000
            embedded = app.embedder.embedded_texts - embedded
            _, final = checker.finish(question, answer, documents)
            shown = final.cited_text
            row.update(
                answer=answer, status=support.status, score=round(support.score, 3), check_ms=support.check_ms, check_cpu_ms=cpu_ms, embedded=embedded,
                generate_ms=generated["generate_ms"], right=is_right(dataset, qa, answer),
                contains=_contains(qa, answer), shown_contains=_contains(qa, shown), action=final.action,
                sentences=[[round(s.score, 3), list(s.missing)] for s in support.sentences],
            )
        rows.append(row)
        if rows_out:
            rows_out.write(json.dumps(row) + "\n")
        print(f"{dataset} {variant} {i + 1}/{len(questions)} {row['status']}", file=sys.stderr, flush=True)
    return summarize(rows, checker.threshold)


def _contains(qa: dict, text: str) -> bool:
    """Whether ``text`` contains a reference answer (SQuAD), normalised."""
    answers = qa.get("meta", {}).get("all_answers") or [qa["answer"]]
    squashed = " ".join(normalize(text))
    return any(" ".join(normalize(a)) in squashed for a in answers if normalize(a))


def summarize(rows: list[dict], threshold: float) -> dict:
    answered = [r for r in rows if r["status"] != "not_in_documents"]
    checked = [r for r in answered if r["status"] != "abstained"]
    right = [r for r in checked if r["right"]]
    wrong = [r for r in checked if not r["right"]]
    flagged = lambda rs: sum(r["status"] == "unsupported" for r in rs)  # noqa: E731
    marked = lambda rs: sum(r["status"] in {"unsupported", "partial"} for r in rs)  # noqa: E731
    ms = sorted(r["check_ms"] for r in answered) or [0.0]
    summary = {
        "questions": len(rows),
        "not_in_documents": sum(r["status"] == "not_in_documents" for r in rows),
        "abstained": sum(r["status"] == "abstained" for r in rows),
        "right": len(right),
        "wrong": len(wrong),
        "wrong_flagged": flagged(wrong),
        "right_flagged": flagged(right),
        "wrong_with_a_marked_sentence": marked(wrong),
        "right_with_a_marked_sentence": marked(right),
        "check_ms_median": round(statistics.median(ms), 1),
        "check_ms_p90": round(ms[int(0.9 * (len(ms) - 1))], 1),
        "check_ms_mean": round(statistics.mean(ms), 1),
        "check_cpu_ms_median": round(statistics.median([r.get("check_cpu_ms", 0.0) for r in answered] or [0.0]), 1),
        # Load-independent cost: texts the embedding model ran on (~7 ms each on two idle cores).
        "answers_checked_without_the_model": sum(r.get("embedded", 0) == 0 for r in answered),
        "embedded_texts_median": statistics.median([r.get("embedded", 0) for r in answered] or [0]),
        "embedded_texts_max": max([r.get("embedded", 0) for r in answered] or [0]),
        "generate_ms_median": round(statistics.median([r["generate_ms"] for r in answered] or [0.0]), 1),
    }
    # Long answers score a low F1 against SQuAD's short spans even when right: also count an
    # answer as right when it contains a reference answer.
    holds = [r for r in checked if r["contains"]]
    lacks = [r for r in checked if not r["contains"]]
    summary.update(
        contains_reference=len(holds), lacks_reference=len(lacks),
        lacking_flagged=flagged(lacks), containing_flagged=flagged(holds),
    )
    unsupported = [r for r in checked if r["status"] == "unsupported"]
    if unsupported:
        summary["unsupported_answers_containing_the_reference"] = sum(r["contains"] for r in unsupported)
        summary["their_fallback_quotes_containing_it"] = sum(r["shown_contains"] for r in unsupported)
    sweep = {}
    for t in (0.4, 0.45, 0.5, 0.55, 0.6):
        status = lambda r: all(s < t or m for s, m in r["sentences"])  # noqa: E731  (every sentence below t)
        sweep[f"{t:.2f}"] = {"wrong_flagged": sum(status(r) for r in wrong), "right_flagged": sum(status(r) for r in right)}
    summary["sweep"] = sweep
    return summary


if __name__ == "__main__":
    raise SystemExit(main())
