"""Time the support check alone on the claims of ``eval --perturb``: what it adds to every answer.

First run with ``--dump FILE``: indexes ``--corpus`` into ``--persist-dir`` (reused), builds the
claims (``--n`` per kind, ``--seed``), retrieves for each and writes (question, claim, passages) as
JSONL. Then ``--cases FILE`` times ``SupportChecker.check`` on them with the index's embedding
model, ``--rounds`` times, and prints the median and p95 per answer, with and without the model
(``--no-embed`` stubs it, to see what the words alone cost). The cases file lets another checkout
(a baseline) time the same inputs: ``PYTHONPATH=../other python bench/support_timing.py --cases FILE``.

    PYTHONPATH=. python bench/support_timing.py --corpus ../shared/evaldata/squad_expmrc/corpus \\
        --persist-dir /tmp/eval/squad --dump /tmp/cases.jsonl
    PYTHONPATH=. python bench/support_timing.py --persist-dir /tmp/eval/squad --cases /tmp/cases.jsonl
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path


def _app(persist_dir: str):
    from rag_app import RagApp, Settings
    from rag_app.measure.evaluate import collection_name

    settings = Settings.load(None).with_overrides(persist_dir=persist_dir, ledger=False, min_relevance="0")
    return RagApp(settings.with_overrides(collection=collection_name(settings)), llm="extractive")


def dump(args: argparse.Namespace) -> None:
    from rag_app.measure.perturb_run import build_claims, corpus_sentences

    with _app(args.persist_dir) as app:
        app.reindex([Path(args.corpus)])
        claims = build_claims(app, corpus_sentences(app), args.n, args.seed)
        with open(args.dump, "w") as out:
            for kind, pairs in claims.items():
                for _, claim in pairs:
                    docs = [{"text": d.page_content, "metadata": d.metadata} for d in app.retrieve(claim)]
                    out.write(json.dumps({"kind": kind, "question": claim, "claim": claim, "docs": docs}) + "\n")
    print(f"wrote {args.dump}")


def time_cases(args: argparse.Namespace) -> None:
    from langchain_core.documents import Document

    from chains.support import SupportChecker

    cases = [json.loads(line) for line in open(args.cases)]
    with _app(args.persist_dir) as app:
        embed = app.embedder.embed_documents
        embed(["warm up"])
        calls = []

        def counted(texts: list[str]) -> list[list[float]]:
            calls.append(len(texts))
            return embed(texts) if not args.no_embed else [[1.0, 0.0] for _ in texts]

        checker = SupportChecker(counted)
        docs = [[Document(page_content=d["text"], metadata=d["metadata"]) for d in c["docs"]] for c in cases]
        times = []
        for _ in range(args.rounds):
            for case, passages in zip(cases, docs):
                started = time.perf_counter()
                checker.check(case["question"], case["claim"], passages)
                times.append((time.perf_counter() - started) * 1000)
    times.sort()
    print(f"{len(cases)} answers x {args.rounds} rounds, model {'stubbed' if args.no_embed else 'real'}: "
          f"median {statistics.median(times):.2f} ms, p95 {times[int(0.95 * (len(times) - 1))]:.2f} ms; "
          f"embedding calls {len(calls)} ({sum(calls)} texts)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus")
    parser.add_argument("--persist-dir", required=True)
    parser.add_argument("--dump")
    parser.add_argument("--cases")
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-embed", action="store_true")
    args = parser.parse_args()
    if args.dump:
        dump(args)
    if args.cases:
        time_cases(args)


if __name__ == "__main__":
    main()
