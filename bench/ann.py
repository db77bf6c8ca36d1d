"""Exact search vs approximate indexes over one vector per distinct text: recall@k and latency.

Reads an index's distinct-text vectors through the search side (embedding cache + published
arrays), builds the graph search publishes for large collections (``rag_app.store.ann``: USearch
HNSW over the int8 rows, candidates rescored exactly, at each ``--expansion``) and a Chroma
collection over them per HNSW setting (``space`` cosine, ``ef_construction``,
``max_neighbors``, ``ef_search``), and asks them the questions of a QA set (or, without one,
the eight middle words of random texts), against exact float32 cosine:

    python bench/ann.py INDEX_DIR --qa ../shared/evaldata/python_faq/qa.jsonl   # an index built with the real model
    python bench/ann.py INDEX_DIR --configs 100:16:100,200:32:200,400:48:400     # ef_construction:max_neighbors:ef_search

Recall is also given tie-aware (a hit counts when its score reaches the exact k-th score),
and exact p50/p95 over the same vectors (float32 in memory, and int8 blocks as published).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, machine, pcts

sys.path.insert(0, str(ROOT))


def main() -> None:
    import numpy as np

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("index", type=Path, help="RAG_PERSIST_DIR of a built index")
    parser.add_argument("--qa", type=Path, help="qa.jsonl: its questions are asked (default: words of random texts)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--configs", default="100:16:100,200:32:200,400:48:400",
                        help="Chroma HNSW settings to compare ('' for none)")
    parser.add_argument("--expansion", default="128,512,1024", help="our graph's search beams to measure")
    parser.add_argument("--expansion-add", type=int, help="our graph's build beam (default: ann.EXPANSION_ADD)")
    args = parser.parse_args()
    print(f"{machine()}; index {args.index}\n")

    import sqlite3

    from rag_app.embeddings import embedder_for
    from rag_app.settings import Settings
    from rag_app.store.arrays import Quantized, quantize, scores
    from rag_app.store.search_side import ChunkStore

    db = sqlite3.connect(f"file:{args.index / 'rag_app_records.sqlite3'}?mode=ro", uri=True)
    store = ChunkStore(db, readonly=True)
    physical = max(db.execute("SELECT collection, COUNT(*) FROM texts GROUP BY 1"), key=lambda r: r[1])[0]
    setup = store.setup(physical) or {}
    hashes, matrix = store.matrix(physical)
    matrix = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    name = str(setup["embedding"])
    if name.startswith("minilm"):
        name = "minilm"
    elif name.startswith("fake:bow-"):
        name = "fake:" + name.split("-")[-1]
    embedder = embedder_for(Settings(embeddings=name))
    if args.qa:
        questions = [json.loads(line)["question"] for line in args.qa.read_text().splitlines() if line.strip()]
    else:
        rng = random.Random(1)
        texts = [r[0] for r in db.execute("SELECT text FROM chunks WHERE collection = ? LIMIT 100000", (physical,))]
        questions = []
        for text in rng.sample(texts, min(args.queries, len(texts))):
            words = text.split()
            questions.append(" ".join(words[max(0, len(words) // 2 - 4):][:8]))
    questions = questions[: args.queries]
    queries = np.asarray(embedder.embed_documents(questions), dtype=np.float32)
    k = args.k
    print(f"{len(hashes)} distinct texts ({setup.get('embedding')}), {len(questions)} questions, k={k}")

    truth, times32, times8 = [], [], []
    int8_hits = int8_ties = 0
    half = Quantized(*quantize(matrix))
    for q in queries:
        t0 = time.perf_counter()
        s = matrix @ q
        best = np.argpartition(-s, k)[:k]
        times32.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        s8 = scores(half, q)
        best8 = np.argpartition(-s8, k)[:k]
        times8.append((time.perf_counter() - t0) * 1000)
        truth.append(({int(i) for i in best}, float(s[best].min())))
        int8_hits += len(truth[-1][0] & {int(i) for i in best8})
        int8_ties += sum(1 for i in best8 if s[i] >= truth[-1][1] - 1e-6)
    print(f"  exact float32          {pcts(times32)}")
    n = k * len(queries)
    print(f"  exact int8 blocks      {pcts(times8)}  recall@{k} vs float32 {int8_hits / n:.3f} (tie-aware {int8_ties / n:.3f})")

    work = Path(tempfile.mkdtemp(prefix="bench-ann-"))
    try:
        from rag_app.store import ann

        if args.expansion_add:
            ann.EXPANSION_ADD = args.expansion_add
        print(f"  graph: connectivity {ann.CONNECTIVITY}, expansion_add {ann.EXPANSION_ADD}")
        t0 = time.perf_counter()
        sorted_hashes = np.asarray([h.encode() for h in hashes], dtype="S32")  # sorted, as published
        ann.build(half.codes, sorted_hashes, work / "graph.usearch")
        build = time.perf_counter() - t0
        size = (work / "graph.usearch").stat().st_size
        graph = ann.load(work / "graph.usearch", sorted_hashes)
        for expansion in (int(e) for e in args.expansion.split(",") if e):
            graph.index.expansion_search = expansion
            hits = ties = 0
            times = []
            for q, (want, kth) in zip(queries, truth):
                t0 = time.perf_counter()
                rows = graph.nearest(q, max(2 * k, 32))  # what search asks for, then rescores
                got = rows[np.argsort(-(half.rows(rows) @ q), kind="stable")[:k]].tolist()
                times.append((time.perf_counter() - t0) * 1000)
                hits += len(want & set(got))
                ties += sum(1 for i in got if float(matrix[i] @ q) >= kth - 1e-6)
            print(f"  graph expansion {expansion:<6} build {build:6.1f} s  {size / len(hashes):5.0f} B/text  {pcts(times)}"
                  f"  recall@{k} {hits / n:.3f} (tie-aware {ties / n:.3f})")

        import chromadb
        from chromadb.config import Settings as ChromaSettings

        for config in (c for c in args.configs.split(",") if c):
            efc, m, efs = (int(x) for x in config.split(":"))
            client = chromadb.PersistentClient(str(work / config.replace(":", "-")), settings=ChromaSettings(anonymized_telemetry=False))
            hnsw = {"space": "cosine", "ef_construction": efc, "max_neighbors": m, "ef_search": efs}
            collection = client.create_collection("texts", embedding_function=None, configuration={"hnsw": hnsw})
            t0 = time.perf_counter()
            for start in range(0, len(hashes), 2000):
                collection.add(ids=[str(i) for i in range(start, min(start + 2000, len(hashes)))],
                               embeddings=matrix[start : start + 2000])
            build = time.perf_counter() - t0
            hits = ties = 0
            times = []
            for q, (want, kth) in zip(queries, truth):
                t0 = time.perf_counter()
                got = [int(i) for i in collection.query(query_embeddings=[q], n_results=k, include=[])["ids"][0]]
                times.append((time.perf_counter() - t0) * 1000)
                hits += len(want & set(got))
                ties += sum(1 for i in got if float(matrix[i] @ q) >= kth - 1e-6)
            print(f"  HNSW {config:<13} build {build:6.1f} s  {pcts(times)}  recall@{k} {hits / n:.3f} (tie-aware {ties / n:.3f})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
