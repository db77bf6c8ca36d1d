"""Calibrate RAG_MIN_RELEVANCE: the best retrieval score under which a question is "not in the documents".

For every question of the shared evaluation sets it takes the score of the best chunk twice: from
the whole corpus (the answer is there) and from the corpus without the question's gold document
(the answer was removed: leave-one-document-out, by a Chroma ``where`` filter on the same index).
Questions of the *other* set (off-topic) give a third distribution. It prints the three, and the
threshold chosen: the highest score that still lets ``--keep`` of the answerable questions through
(a wrong "not in the documents" costs the user an answer the documents hold, so it must be rare),
with how many answer-removed and off-topic questions it catches.

    PYTHONPATH=. python bench/calibrate_relevance.py            # MiniLM, chunk size 200
    PYTHONPATH=. python bench/calibrate_relevance.py --keep 0.98   # stricter: more "not in the documents"
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EVALDATA = ROOT.parent / "shared" / "evaldata"
SETS = ("squad_expmrc", "python_faq")


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    pick = lambda q: ordered[min(int(q * len(ordered)), len(ordered) - 1)]  # noqa: E731
    return " ".join(f"p{int(q * 100):02d}={pick(q):.3f}" for q in (0.01, 0.05, 0.10, 0.25, 0.50, 0.75, 0.90))


def histogram(values: list[float], lo: float = -0.1, hi: float = 0.9, step: float = 0.05) -> list[str]:
    rows = []
    edges = [lo + i * step for i in range(int(round((hi - lo) / step)) + 1)]
    for a, b in zip(edges, edges[1:]):
        n = sum(a <= v < b for v in values)
        rows.append(f"  {a:5.2f}..{b:5.2f} {n:4d} {'#' * round(60 * n / max(len(values), 1))}")
    return rows


def best_scores(app, questions: list[dict], exclude_gold: bool, corpus: Path) -> list[float]:
    collection = app.vector_index().collection()
    scores = []
    for row in questions:
        where = None
        if exclude_gold:
            gold = [str((corpus / s).resolve()) for s in row["sources"]]
            where = {"source": {"$nin": gold}} if len(gold) > 1 else {"source": {"$ne": gold[0]}}
        vector = app.embedder.embed_query(row["question"])
        got = collection.query(query_embeddings=[vector], n_results=1, where=where, include=["distances"])
        distances = got["distances"][0] if got["distances"] else []
        scores.append(round(1.0 - float(distances[0]), 4) if distances else 0.0)
    return scores


def main(argv: list[str] | None = None) -> int:
    from rag_app import RagApp, Settings

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--embeddings", default="minilm")
    parser.add_argument("--precision", default="int8", choices=["int8", "fp32"], help="minilm on ONNX (RAG_EMBED_PRECISION)")
    parser.add_argument("--keep", type=float, default=0.995, help="share of answerable questions that must pass (default 99.5%%)")
    parser.add_argument("--work", default="/tmp/rag-calibrate", help="where the indexes are built (reused)")
    parser.add_argument("--sets", default=",".join(SETS), help="which sets' corpora to search (questions of all sets are used)")
    parser.add_argument("--json", action="store_true", help="also print the raw scores as JSON")
    args = parser.parse_args(argv)

    present: list[float] = []
    removed: list[float] = []
    offtopic: list[float] = []
    qa = {name: [json.loads(l) for l in (EVALDATA / name / "qa.jsonl").read_text().splitlines()] for name in SETS}
    raw = {}
    for name in args.sets.split(","):
        corpus = EVALDATA / name / "corpus"
        settings = Settings(persist_dir=str(Path(args.work) / f"{name}-{args.embeddings.replace(':', '_').replace('/', '_')}"),
                            embeddings=args.embeddings, embed_precision=args.precision)
        with RagApp(settings) as app:
            app.reindex([corpus])
            p = best_scores(app, qa[name], False, corpus)
            r = best_scores(app, qa[name], True, corpus)
            other = [q for n in SETS if n != name for q in qa[n]]
            o = best_scores(app, other, False, corpus)
        raw[name] = {"present": p, "removed": r, "offtopic": o}
        present += p
        removed += r
        offtopic += o
        print(f"== {name} ({len(p)} questions; off-topic: the {len(o)} questions of the other set)", flush=True)
        for label, values in (("answer in corpus", p), ("answer removed", r), ("off-topic", o)):
            print(f"  {label:17s} mean={statistics.mean(values):.3f}  {percentiles(values)}")

    ordered = sorted(present)
    threshold = round(ordered[int((1 - args.keep) * len(ordered))] - 0.005, 2)
    kept = sum(v >= threshold for v in present) / len(present)
    caught = sum(v < threshold for v in removed) / len(removed)
    caught_off = sum(v < threshold for v in offtopic) / len(offtopic)
    print("\n== all sets: best-hit score histograms")
    for label, values in (("answer in corpus", present), ("answer removed", removed), ("off-topic", offtopic)):
        print(f"{label} ({len(values)}):")
        print("\n".join(histogram(values)))
    print(
        f"\nthreshold {threshold:.2f} ({args.embeddings}): answerable questions kept {kept:.1%}; "
        f"'not in the documents' for {caught:.1%} of answer-removed and {caught_off:.1%} of off-topic questions"
    )
    for t in (0.2, 0.25, 0.3, 0.35, 0.4, 0.45):
        print(
            f"  at {t:.2f}: kept {sum(v >= t for v in present) / len(present):.1%}, "
            f"removed caught {sum(v < t for v in removed) / len(removed):.1%}, "
            f"off-topic caught {sum(v < t for v in offtopic) / len(offtopic):.1%}"
        )
    if args.json:
        print(json.dumps(raw))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
