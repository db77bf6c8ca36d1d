"""Query latency at 1k, 10k and 100k chunks: retrieval only, and end to end per backend.

The index is grown from real text: every chunk of a shared corpus (default
squad_expmrc, 390 chunks; ``--source python_faq`` for ~2.9k) is embedded once with the real MiniLM model; copies
beyond that are the same texts with a small change (a copy number appended) and
the original vector plus small Gaussian noise (sigma 0.02 per dimension, then
re-normalised; cosine ~0.9 to the original), inserted straight into the app's
Chroma collection. Embedding 100k chunks for real would take hours on 2 cores;
the noise keeps copies from being exact duplicates for the HNSW index. Queries
are real questions of the sets, embedded with the real MiniLM model each time.

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
        collection = app._vector_index().collection()
        rng = np.random.default_rng(0)
        have = collection.count()
        for size in sizes:
            started = time.perf_counter()
            while have < size:
                n = min(size - have, 2000)
                idx = [(have + i) % len(base) for i in range(n)]
                copy = [(have + i) // len(base) for i in range(n)]
                vec = vectors[idx]
                if any(copy):
                    noise = rng.normal(0, args.noise, vec.shape).astype(np.float32) * np.asarray([[c > 0] for c in copy])
                    vec = vec + noise
                    vec /= np.linalg.norm(vec, axis=1, keepdims=True)
                chunks = [base[i] for i in idx]
                collection.add(
                    ids=[f"{c.id}-{k}" for c, k in zip(chunks, copy)],
                    embeddings=vec.tolist(),
                    documents=[c.text if k == 0 else f"{c.text} (copy {k})" for c, k in zip(chunks, copy)],
                    metadatas=[c.metadata() for c in chunks],
                )
                have += n
            grow = time.perf_counter() - started
            print(f"\n== {collection.count()} chunks (grown in {grow:.0f} s)")
            app.retrieve(asked[0], args.k)  # warm the HNSW index into memory
            times, embed, search = [], [], []
            for q in asked:
                t0 = time.perf_counter()
                app.retrieve(q, args.k)
                t1 = time.perf_counter()
                vector = app.embedder.embed_query(q)
                t2 = time.perf_counter()
                collection.query(query_embeddings=[vector], n_results=args.k, include=["documents", "metadatas", "distances"])
                t3 = time.perf_counter()
                times.append((t1 - t0) * 1000)
                embed.append((t2 - t1) * 1000)
                search.append((t3 - t2) * 1000)
            print(f"  retrieve (MiniLM query embedding + Chroma)  {pcts(times)}")
            print(f"    of which: query embedding              {pcts(embed)}")
            print(f"    of which: Chroma search                {pcts(search)}")
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


if __name__ == "__main__":
    random.seed(0)
    main()
