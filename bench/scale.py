"""Scale: reindex, disk, cold and warm queries at large chunk counts, against plain Chroma ingestion.

A generated corpus (``--files`` files of paragraphs drawn from the words of a shared
corpus, Zipf-weighted, about ``--chunk-size`` tokens each) is indexed with
``RAG_EMBEDDINGS=fake:384`` (deterministic hashed vectors: only our pipeline is timed).
Every step runs in a child process of its own, so peak RSS is that step's alone:

- reindex: ``rag-app reindex DIR`` — seconds, chunks/s, peak RSS, bytes on disk per chunk;
- cold query: ``rag-app query Q --json`` (extractive) in a fresh process — seconds and peak RSS;
- warm: one process, ``--queries`` questions per search mode (p50/p95 ms, question embedding
  included), and recall@k of Chroma's own HNSW (``collection.query``) against our exact ranking;
- plain Chroma: ``collection.add`` of the same chunks (ids, texts, metadata) and the same
  vectors in batches — the floor the reindex is compared with.

``--chroma-server`` writes to a ``chroma run`` server started for the run (``CHROMA_HOST``):
the reindex's peak RSS is then the writer's own, without Chroma's segment (the server's peak
and its bytes on disk are printed beside it).

    python bench/scale.py --chunks 20000,100000
    python bench/scale.py --chunks 100000,1000000      # the issue's sizes (hours on 2 cores)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, corpus_dir, machine, pcts
from disk import report as disk_report

MODES = ("vector", "bm25", "hybrid")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunks", default="20000,100000", help="corpus sizes, in chunks (about)")
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--chunk-size", type=int, default=40, help="RAG_CHUNK_SIZE in tokens")
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--skip-chroma", action="store_true", help="skip the plain Chroma ingestion")
    parser.add_argument("--disk", action="store_true", help="print where the bytes go (bench/disk.py)")
    parser.add_argument("--ef", default="100,400", help="HNSW ef_search values to measure recall at")
    parser.add_argument("--float32-upto", type=int, default=300_000,
                        help="compare with float32 exact search and Chroma's HNSW only up to this many chunks "
                             "(all vectors are read into memory)")
    parser.add_argument("--keep", help="keep the generated corpora and indexes under this directory")
    parser.add_argument("--chroma-server", action="store_true",
                        help="index into a `chroma run` server started for the run (CHROMA_HOST), not embedded Chroma")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--arg", action="append", default=[], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        return STEPS[args.step](*args.arg)
    print(f"{machine()}; code: {ROOT}\n")
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-scale-"))
    try:
        for size in (int(s) for s in args.chunks.split(",")):
            measure(size, args, base / f"n{size}")
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


def measure(size: int, args: argparse.Namespace, work: Path) -> None:
    corpus, index = work / "corpus", work / "index"
    words_per_paragraph = max(4, int(args.chunk_size * 0.6))
    if not corpus.exists():
        generate(corpus, size, args.files, words_per_paragraph)
    shutil.rmtree(index, ignore_errors=True)
    env = dict(os.environ, RAG_PERSIST_DIR=str(index), RAG_EMBEDDINGS="fake:384", RAG_LLM="extractive",
               RAG_CHUNK_SIZE=str(args.chunk_size), RAG_CHUNK_OVERLAP="0", RAG_LEDGER="false",
               PYTHONPATH=str(ROOT))
    cli = [sys.executable, "-m", "rag_app"]
    server = start_server(work / "server", env) if args.chroma_server else None
    try:
        measure_index(size, args, work, env, cli, server)
    finally:
        if server is not None:
            server.terminate()
            _, _, usage = os.wait4(server.pid, 0)
            print(f"  chroma server: peak RSS {usage.ru_maxrss / 1024:.0f} MB, disk {du(work / 'server') / 2**20:.0f} MB\n")


def start_server(data: Path, env: dict[str, str]) -> subprocess.Popen:
    """``chroma run`` on a free loopback port; ``env`` is pointed at it."""
    import socket
    import urllib.request

    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    chroma = str(Path(sys.executable).parent / "chroma")
    proc = subprocess.Popen([chroma, "run", "--path", str(data / "db"), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=open(data / "server.log", "w"), stderr=subprocess.STDOUT)
    for _ in range(600):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        raise SystemExit(f"chroma run did not start: {data / 'server.log'}")
    env.update(CHROMA_HOST="127.0.0.1", CHROMA_PORT=str(port))
    return proc


def measure_index(size: int, args: argparse.Namespace, work: Path, env: dict[str, str], cli: list[str],
                  server: subprocess.Popen | None) -> None:
    corpus, index = work / "corpus", work / "index"
    out, seconds, rss = child(cli + ["reindex", str(corpus), "--json"], env)
    report = json.loads(out)
    chunks = report["chunks"]
    disk = du(index) + (du(work / "server") if server is not None else 0)
    where = "a chroma run server; RSS: the writer's" if server is not None else "embedded Chroma"
    print(f"== {chunks} chunks ({args.files} files, {args.chunk_size}-token chunks, fake:384, {where})")
    print(f"  reindex (first)        {seconds:8.1f} s  {chunks / seconds:8.0f} chunks/s  peak RSS {rss:6.0f} MB"
          f"  disk {disk / chunks:7.0f} B/chunk ({disk / 2**20:.0f} MB)")
    if args.disk:
        print(disk_report(index, chunks))
    _, again, again_rss = child(cli + ["reindex", str(corpus), "--json"], env)
    print(f"  reindex (no change)    {again:8.1f} s  peak RSS {again_rss:6.0f} MB")
    edited = sorted(corpus.iterdir())[0]
    original = edited.read_text()
    edited.write_text(original + "\nA new closing paragraph about the scale benchmark.\n")
    try:
        _, changed, changed_rss = child(cli + ["reindex", str(corpus), "--json"], env)
    finally:
        edited.write_text(original)
    print(f"  reindex (one file +1)  {changed:8.1f} s  peak RSS {changed_rss:6.0f} MB  (arrays republished whole; a graph updated)")
    questions = make_questions(corpus, args.queries)
    colds = [child(cli + ["query", q, "--json"], env)[1:] for q in questions[:3]]
    print(f"  cold query (CLI)       {statistics.median(c[0] for c in colds):8.2f} s  peak RSS "
          f"{statistics.median(c[1] for c in colds):6.0f} MB  (median of 3 processes)")
    qfile = work / "questions.json"
    qfile.write_text(json.dumps(questions))
    out, _, warm_rss = child([sys.executable, __file__, "--step", "warm", "--arg", str(qfile), "--arg", str(args.k),
                              "--arg", args.ef, "--arg", str(args.float32_upto)], env)
    lines = out.splitlines()
    warm = json.loads(lines[0])
    for mode in MODES:
        print(f"  warm {mode:<17} {pcts(warm[mode])}")
    warm.update(json.loads(lines[1]))
    ours = "HNSW graph + rescore" if warm.get("graph") else "exact int8"
    print(f"  bm25 capped vs full recall@{args.k} {warm['bm25_recall']:.3f}   (warm process peak RSS {warm_rss:.0f} MB)")
    if "graph_recall" in warm:
        print(f"  vector: HNSW graph vs exact int8 scan recall@{args.k} {warm['graph_recall']:.3f}"
              f" (tie-aware {warm['graph_ties']:.3f})")
    if "int8_recall" in warm:
        print(f"  vector ({ours}) vs float32 recall@{args.k} {warm['int8_recall']:.3f} (tie-aware {warm['int8_ties']:.3f})")
    else:
        print(f"  (float32 recall and Chroma's HNSW skipped above --float32-upto {args.float32_upto} chunks)")
    for ef, row in warm.get("hnsw", {}).items():
        print(f"  warm HNSW ef_search {ef:<4} {pcts(row['times'])}   recall@{args.k} vs exact {row['recall']:.3f}"
              f" (tie-aware {row['ties']:.3f})")
    if not args.skip_chroma:
        env = {k: v for k, v in env.items() if k not in ("CHROMA_HOST", "CHROMA_PORT")}  # plain: embedded
        plain = work / "plain"
        shutil.rmtree(plain, ignore_errors=True)
        out, seconds, rss = child([sys.executable, __file__, "--step", "plain", "--arg", str(corpus), "--arg", str(plain)], env)
        n = json.loads(out)["chunks"]
        disk = du(plain)
        print(f"  plain Chroma add       {seconds:8.1f} s  {n / seconds:8.0f} chunks/s  peak RSS {rss:6.0f} MB"
              f"  disk {disk / n:7.0f} B/chunk ({disk / 2**20:.0f} MB)")
        if args.disk:
            print(disk_report(plain, n))
        shutil.rmtree(plain, ignore_errors=True)
    print(flush=True)


def generate(corpus: Path, size: int, files: int, words: int) -> None:
    """``files`` files of paragraphs of ``words`` words (about one chunk each), deterministic."""
    import re

    rng = random.Random(size)
    source = corpus_dir("squad_expmrc")
    vocab = sorted({w for p in source.iterdir() if p.is_file() for w in re.findall(r"[A-Za-z]{3,}", p.read_text(errors="ignore"))})
    weights = [1.0 / (rank + 1) for rank in range(len(vocab))]
    rng.shuffle(vocab)
    corpus.mkdir(parents=True)
    per_file = max(1, size // files)
    for f in range(files):
        paragraphs = []
        for _ in range(per_file):
            chosen = rng.choices(vocab, weights, k=words)
            paragraphs.append(" ".join(chosen).capitalize() + ".")
        (corpus / f"doc{f:05d}.txt").write_text("\n\n".join(paragraphs) + "\n")


def make_questions(corpus: Path, n: int) -> list[str]:
    """Eight words from the middle of random paragraphs (their chunk is the one to find)."""
    rng = random.Random(1)
    files = sorted(corpus.iterdir())
    out = []
    for _ in range(n):
        paragraphs = rng.choice(files).read_text().split("\n\n")
        words = rng.choice(paragraphs).split()
        start = max(0, len(words) // 2 - 4)
        out.append(" ".join(words[start : start + 8]))
    return out


def child(argv: list[str], env: dict[str, str]) -> tuple[str, float, float]:
    """Run ``argv``; its stdout, wall seconds and peak RSS (MB, the kernel's rusage of that process)."""
    import threading

    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    err: list[str] = []
    reader = threading.Thread(target=lambda: err.append(proc.stderr.read()))  # type: ignore[union-attr]
    reader.start()
    out = proc.stdout.read()  # type: ignore[union-attr]
    reader.join()
    _, status, usage = os.wait4(proc.pid, 0)  # reaped here, so the rusage is this child's alone
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:4])} failed ({proc.returncode}):\n{''.join(err)[-3000:]}")
    return out, seconds, usage.ru_maxrss / 1024


def du(path: Path) -> int:
    """Bytes the files under ``path`` occupy on disk."""
    return sum(os.stat(os.path.join(d, f)).st_blocks * 512 for d, _, files in os.walk(path) for f in files)


# --- steps run in child processes ---------------------------------------------------------------

def exactness(app, questions: list[str], top: int, efs: list[int], float32_upto: int) -> dict[str, object]:
    """Recall@k of our vector search and of Chroma's HNSW at each ``ef_search``.

    Against exact float32 cosine over Chroma's own vectors (read page by page: only up to
    ``float32_upto`` chunks, it holds them all in memory), and, when the HNSW graph answers, of
    the graph against the exact int8 scan of the same rows (what the graph approximates; any size).
    Tie-aware: a hit counts when its exact score is at least the exact k-th score (the generated
    corpus has many equal scores)."""
    import numpy as np

    out: dict[str, object] = {}
    from rag_app.store import bm25

    capped = [{d.id for d in app.retrieve(q, k=top, search="bm25")} for q in questions]
    cap, bm25.POSTINGS_CAP = bm25.POSTINGS_CAP, None
    full = [{d.id for d in app.retrieve(q, k=top, search="bm25")} for q in questions]
    bm25.POSTINGS_CAP = cap
    out["bm25_recall"] = sum(len(c & f) for c, f in zip(capped, full)) / max(sum(len(f) for f in full), 1)
    view = app._searcher.loaded
    if view.graph is not None:
        graphed = [app.retrieve(q, k=top, search="vector") for q in questions]
        kept, view.graph = view.graph, None  # the exact int8 scan of the same rows
        exact = [app.retrieve(q, k=top, search="vector") for q in questions]
        view.graph = kept
        hits = ties = 0
        for got, want in zip(graphed, exact):
            hits += len({d.id for d in got} & {d.id for d in want})
            kth = min(d.metadata["score"] for d in want) if want else 0.0
            ties += sum(1 for d in got if d.metadata["score"] >= kth - 1e-6)
        out["graph_recall"], out["graph_ties"] = hits / (top * len(questions)), ties / (top * len(questions))
    index = app.vector_index()
    if index.records.chunks.count(view.collection) > float32_upto:  # Chroma's count would load its segment
        return out
    collection = index.collection()
    ids: list[str] = []
    parts = []
    for offset in range(0, collection.count(), 5000):
        got = collection.get(include=["embeddings"], limit=5000, offset=offset)
        ids += got["ids"]
        parts.append(np.asarray(got["embeddings"], dtype=np.float32))
    matrix = np.concatenate(parts)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    where = {i: n for n, i in enumerate(ids)}
    truth = []
    for q in questions:
        v = np.asarray(app.embedder.embed_query(q), dtype=np.float32)
        s = matrix @ v
        best = np.argpartition(-s, top)[:top]
        truth.append((v, {ids[i] for i in best}, float(s[best].min())))

    def score(got_ids: list[list[str]]) -> tuple[float, float]:
        hits = ties = 0
        for (v, want, kth), got in zip(truth, got_ids):
            hits += len(want & set(got))
            ties += sum(1 for i in got[:top] if i in where and float(matrix[where[i]] @ v) >= kth - 1e-6)
        return hits / (top * len(truth)), ties / (top * len(truth))

    out["int8_recall"], out["int8_ties"] = score([[d.id for d in app.retrieve(q, k=top, search="vector")] for q in questions])
    hnsw: dict[str, object] = {}
    for ef in efs:
        collection.modify(configuration={"hnsw": {"ef_search": ef}})
        collection = app.vector_index().collection()
        times, got_ids = [], []
        for v, _, _ in truth:
            t0 = time.perf_counter()
            got = collection.query(query_embeddings=[v.tolist()], n_results=top, include=[])
            times.append((time.perf_counter() - t0) * 1000)
            got_ids.append(got["ids"][0])
        recall, ties = score(got_ids)
        hnsw[str(ef)] = {"times": times, "recall": recall, "ties": ties}
    out["hnsw"] = hnsw
    return out


def step_warm(qfile: str, k: str, efs: str = "100", float32_upto: str = "300000") -> None:
    """Warm latencies per mode (printed first, one JSON line), then the recall figures (a second line)."""
    from rag_app import RagApp

    app = RagApp.from_env(None)
    questions = json.loads(Path(qfile).read_text())
    top = int(k)
    out: dict[str, object] = {}
    for mode in MODES:
        app.retrieve(questions[0], k=top, search=mode)
        times = []
        for q in questions:
            t0 = time.perf_counter()
            app.retrieve(q, k=top, search=mode)
            times.append((time.perf_counter() - t0) * 1000)
        out[mode] = times
    out["graph"] = app._searcher.loaded.graph is not None  # vector search asked the published HNSW graph
    print(json.dumps(out), flush=True)
    print(json.dumps(exactness(app, questions, top, [int(e) for e in efs.split(",") if e], int(float32_upto))))


def step_plain(corpus: str, target: str) -> None:
    """Plain Chroma: the same chunks (the app's splitter) and vectors, ``collection.add`` in batches."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    from loaders import SplitConfig, load_chunks
    from rag_app import Settings
    from rag_app.embeddings import embedder_for

    settings = Settings.load(None)
    embedder = embedder_for(settings)
    split = SplitConfig(settings.chunk_size, settings.chunk_overlap)
    client = chromadb.PersistentClient(path=target, settings=ChromaSettings(anonymized_telemetry=False))
    collection = client.create_collection("plain", embedding_function=None, configuration={"hnsw": {"space": "cosine"}})
    batch: list = []
    n = 0

    def flush() -> None:
        collection.add(ids=[c.id for c in batch], documents=[c.text for c in batch],
                       metadatas=[c.metadata() for c in batch],
                       embeddings=embedder.embed_documents([c.text for c in batch]))

    for path in sorted(Path(corpus).iterdir()):
        for chunk in load_chunks(path, split):
            batch.append(chunk)
            n += 1
            if len(batch) >= 1000:
                flush()
                batch = []
    if batch:
        flush()
    print(json.dumps({"chunks": n}))


STEPS = {"warm": step_warm, "plain": step_plain}

if __name__ == "__main__":
    main()
