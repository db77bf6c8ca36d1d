"""Query latency at 1k, 10k and 100k chunks: retrieval only, and end to end per backend.

The index is grown from real text: every chunk of a shared corpus (default
squad_expmrc, 390 chunks; ``--source python_faq`` for ~2.9k) is embedded once with the real MiniLM model; copies
beyond that are the same texts with a small change (a copy number appended) and
the original vector plus small Gaussian noise (sigma 0.02 per dimension, then
re-normalised; cosine ~0.9 to the original), inserted straight into the search
side of the index (the SQLite tables queries read: chunk rows, FTS5 text, one
vector per distinct text; Chroma is not on the query path). Embedding 100k chunks
for real would take hours on 2 cores. Queries are real questions of the sets,
embedded with the real MiniLM model each time; retrieval is timed per search
mode (the default is hybrid).

    python bench/query_latency.py                         # 1k, 10k and 100k, extractive (minutes on 2 cores)
    python bench/query_latency.py --sizes 1000,10000,100000 --backends extractive,local
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from pathlib import Path

from common import corpus_dir, load_chunk_files, machine, pcts, questions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="index sizes in chunks")
    parser.add_argument("--queries", type=int, default=40, help="questions per size")
    parser.add_argument("--backends", default="extractive", help="end-to-end backends (e.g. extractive,local)")
    parser.add_argument("--source", default="squad_expmrc", help="corpus whose real chunks seed the index")
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--noise", type=float, default=0.02)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    backends = [b for b in args.backends.split(",") if b]

    import numpy as np

    from rag_app import RagApp, Settings

    files = sorted(p for p in corpus_dir(args.source).iterdir() if p.is_file())
    base = load_chunk_files(files)
    asked = questions(args.source, args.queries)
    print(f"{machine()}\n{len(base)} real chunks; {len(asked)} questions; k={args.k}")

    tmp = Path(tempfile.mkdtemp(prefix="bench-query-"))
    try:
        app = RagApp(Settings(), persist_dir=str(tmp / "index"), ledger=False)
        started = time.perf_counter()
        vectors = np.asarray(app.embedder.embed_documents([c.text for c in base]), dtype=np.float32)
        print(f"embedded the real chunks in {time.perf_counter() - started:.0f} s")
        stub = tmp / "stub"
        stub.mkdir()
        (stub / "stub.txt").write_text("A placeholder so the collection is created with the app's settings.\n")
        app.reindex([stub])
        index = app.vector_index()
        store = index.records.chunks
        physical = index.physical_name()
        rng = np.random.default_rng(0)
        have = store.count(physical)
        from rag_app.store.search_side import ChunkRow, text_hash

        for size in sizes:
            started = time.perf_counter()
            batch_no = 0
            while have < size:
                batch_no += 1
                n = min(size - have, 5000)
                idx = [(have + i) % len(base) for i in range(n)]
                copy = [(have + i) // len(base) + 1 for i in range(n)]
                vec = vectors[idx] + rng.normal(0, args.noise, (n, vectors.shape[1])).astype(np.float32)
                vec /= np.linalg.norm(vec, axis=1, keepdims=True)
                rows = []
                for c, k, v in zip((base[i] for i in idx), copy, vec):
                    text = f"{c.text} (copy {k})"
                    source = f"{c.source}#copy{k}-{size}-{batch_no}"  # one batch never replaces another's rows
                    meta = {**c.metadata(), "source": source, "content_hash": text_hash(text)}
                    rows.append(ChunkRow(f"{c.id}-{k}", meta["source"], text_hash(text), text, meta, v.tolist()))
                with index.records.transaction():
                    store.replace_sources(physical, rows)
                have += n
            grow = time.perf_counter() - started
            print(f"\n== {store.count(physical)} chunks (grown in {grow:.0f} s)")
            for mode in ("vector", "bm25", "hybrid"):
                app.retrieve(asked[0], args.k, **_mode(mode))  # load the vectors into memory
                times = []
                for q in asked:
                    t0 = time.perf_counter()
                    app.retrieve(q, args.k, **_mode(mode))
                    times.append((time.perf_counter() - t0) * 1000)
                label = f"retrieve {mode}{' (default)' if mode == app.settings.search else ''}"
                print(f"  {label:<44} {pcts(times)}")
            embed = []
            for q in asked:
                t0 = time.perf_counter()
                app.embedder.embed_query(q)
                embed.append((time.perf_counter() - t0) * 1000)
            print(f"    of which: query embedding                {pcts(embed)}")
            for backend in backends:
                app.query(asked[0], k=args.k, llm=backend)  # load the backend outside the timing
                total, gen = [], []
                for q in asked:
                    answer = app.query(q, k=args.k, llm=backend)
                    total.append(sum(answer.timings_ms.values()))
                    gen.append(answer.timings_ms["generate"])
                print(f"  end to end, {backend:<12} total          {pcts(total)}   (generate {pcts(gen)})")
        app.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _mode(mode: str) -> dict[str, object]:
    return {"search": mode}


if __name__ == "__main__":
    random.seed(0)
    main()
