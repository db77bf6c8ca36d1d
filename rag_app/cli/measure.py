"""The measuring commands of ``rag-app``: ``eval``, ``stats`` and ``cost``.

Like :mod:`rag_app.cli.main`, this module imports only the standard library at start-up.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from rag_app.cli.options import add_index_options, load_settings, open_app
from rag_app.errors import EXIT_OK, ConfigError


def add_parsers(sub: Any) -> None:
    """Add ``eval``, ``stats`` and ``cost`` to the ``rag-app`` sub-command parser."""
    p = sub.add_parser("eval", help="measure retrieval and answers on a QA set (hit rate, MRR, EM/F1, latency, cost)")
    p.add_argument("qa", metavar="QA_FILE", nargs="?", help="questions: JSONL (id, question, answer, sources, contexts) or CSV (question, answer)")
    p.add_argument("--corpus", metavar="DIR", help="the documents the questions are about (with --perturb: default the configured index)")
    p.add_argument("--perturb", action="store_true", help="measure the support check: claims made of the corpus's own sentences, true and changed (number, name, negation, qualifier, stitched)")
    p.add_argument("--n", type=int, default=50, metavar="N", help="with --perturb: claims per kind (default 50)")
    p.add_argument("--limit", type=int, metavar="N", help="only the first N questions")
    p.add_argument("--sample", type=int, metavar="N", help="a random sample of N questions (see --seed)")
    p.add_argument("--seed", type=int, default=0, help="seed for --sample and --dynamic (default 0)")
    p.add_argument("--k", type=int, help="chunks to retrieve (RAG_K)")
    p.add_argument("--llm", help="backend: local, extractive, openai, ... (RAG_LLM)")
    p.add_argument("--compare", nargs="+", metavar="CONFIG", help="configs to compare on the same questions, e.g. llm=extractive,k=4 llm=local,k=2 chunk_size=300")
    p.add_argument("--judge", metavar="BACKEND", help="also ask an LLM judge (e.g. openai:gpt-4o-mini) about correctness and faithfulness")
    p.add_argument("--dynamic", action="store_true", help="also change facts and delete documents, reindex, and measure staleness")
    p.add_argument("--dynamic-share", type=float, default=0.3, metavar="F", help="share of questions whose fact is changed (default 0.3)")
    p.add_argument("--dynamic-delete", type=float, default=0.1, metavar="F", help="share of documents deleted (default 0.1)")
    p.add_argument("--results", metavar="FILE", help="per-question results, JSONL (default: <eval dir>/results.jsonl)")
    p.add_argument("--out", metavar="HTML", help="also write a self-contained HTML report with a chart")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--persist-dir", help="where the evaluation index lives (default: .rag-eval/<corpus>-<hash>)")
    p.add_argument("--embeddings", help="embedding model (RAG_EMBEDDINGS)")

    p = sub.add_parser("stats", help="what queries cost and how fast they were (from the ledger)")
    p.add_argument("--days", type=int, metavar="N", help="only the last N days")
    p.add_argument("--by", default="day,backend", help="group by: day, backend or day,backend (default)")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_index_options(p)

    p = sub.add_parser("cost", help="estimate embedding, per-query and monthly cost (and fine-tuning, to compare)")
    p.add_argument("--queries-per-day", type=float, default=1000, metavar="N", help="for the monthly figure (default 1000)")
    p.add_argument("--finetune-examples", metavar="FILE", help="JSONL training examples: also estimate a fine-tuning run")
    p.add_argument("--epochs", type=int, default=3, help="fine-tuning epochs (default 3)")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_index_options(p)


def cmd_eval(args: argparse.Namespace) -> int:
    from rag_app.jsonl import write_jsonl
    from rag_app.measure.eval_config import EvalConfig, parse_config
    from rag_app.measure.eval_table import table
    from rag_app.measure.evaluate import Evaluator, evaluate, stderr_progress
    from rag_app.measure.qa_sets import load_qa, select

    if args.perturb:
        return cmd_perturb(args)
    if not args.qa or not args.corpus:
        raise ConfigError("eval needs a QA_FILE and --corpus DIR (or --perturb to measure the support check)")
    if args.sample is not None and args.sample < 1 or args.limit is not None and args.limit < 1:
        raise ConfigError("--sample and --limit need a positive number")
    base = load_settings(args, k=args.k, llm=args.llm, embeddings=args.embeddings)
    all_items = load_qa(args.qa)
    items = select(all_items, args.limit, args.sample, args.seed)
    if args.compare:
        configs = [parse_config(text) for text in args.compare]
    else:
        configs = [EvalConfig(label=f"llm={base.llm},k={base.k}")]
    progress = stderr_progress if not args.json or sys.stderr.isatty() else (lambda _m: None)
    corpus = Path(args.corpus)
    evaluator = Evaluator(base, corpus, Path(args.persist_dir) if args.persist_dir else None, args.judge, progress)
    started = time.perf_counter()
    try:
        summaries, rows = evaluate(evaluator, items, configs)
        dynamic = None
        if args.dynamic:
            from rag_app.measure.dynamic import dynamic_text, run_dynamic

            runnable = [c for c in configs if not c.skipped]
            if not runnable:
                raise ConfigError("--dynamic needs at least one config that can run")
            dynamic, dyn_rows = run_dynamic(
                evaluator, items, runnable[0], args.dynamic_share, args.dynamic_delete, args.seed,
                pool=[it.answer or "" for it in all_items],
            )
            rows += dyn_rows
    finally:
        evaluator.close()
    results = Path(args.results) if args.results else evaluator.eval_dir / "results.jsonl"
    write_jsonl(results, rows)
    meta = {
        "qa": args.qa, "corpus": str(corpus), "questions": len(items), "seed": args.seed,
        "duration_s": round(time.perf_counter() - started, 1), "results": str(results),
    }
    if args.out:
        from rag_app.measure.report_html import render

        Path(args.out).write_text(render(summaries, f"rag-app eval: {Path(args.qa).name}", meta, dynamic), encoding="utf-8")
    if args.json:
        print(json.dumps({**meta, "configs": summaries, "dynamic": dynamic}, default=str))
        return EXIT_OK
    print(f"{Path(args.qa).name}: {len(items)} questions over {corpus}")
    print(table(summaries))
    if dynamic:
        print()
        print(dynamic_text(dynamic))
    print(f"\nper-question results: {results}" + (f"\nreport: {args.out}" if args.out else ""))
    return EXIT_OK


def cmd_perturb(args: argparse.Namespace) -> int:
    """``eval --perturb``: how often changed claims are shown as supported (and true ones are)."""
    from rag_app.app import RagApp
    from rag_app.measure.evaluate import collection_name, default_eval_dir, stderr_progress
    from rag_app.measure.perturb_run import claim_model, perturb_text, run_perturb

    if args.n < 1:
        raise ConfigError("--n needs a positive number")
    if args.qa:
        raise ConfigError("eval --perturb takes no QA_FILE: its claims come from the corpus (--corpus DIR)")
    progress = stderr_progress if not args.json or sys.stderr.isatty() else (lambda _m: None)
    model = claim_model()
    base = load_settings(args, k=args.k, embeddings=args.embeddings)
    corpus = Path(args.corpus) if args.corpus else None
    if corpus is not None:
        if not corpus.is_dir():
            raise ConfigError(f"Corpus {corpus} is not a directory: pass --corpus DIR")
        settings = base.with_overrides(persist_dir=str(Path(args.persist_dir) if args.persist_dir else default_eval_dir(corpus)),
                                       ledger=False)
        settings = settings.with_overrides(collection=collection_name(settings))
    else:
        settings = base.with_overrides(ledger=False)
    # Every claim is answered: "not in the documents" (a retrieval gate) would hide the check.
    settings = settings.with_overrides(min_relevance="0")
    started = time.perf_counter()
    with RagApp(settings, llm=model) as app:
        if corpus is not None:
            progress(f"indexing {corpus} into {settings.persist_dir} ({settings.collection}) ...")
            app.reindex([corpus])
        result = run_perturb(app, model, args.n, args.seed, progress)
    result.update(corpus=str(corpus) if corpus else settings.persist_dir, duration_s=round(time.perf_counter() - started, 1))
    if args.json:
        print(json.dumps(result))
    else:
        print(f"eval --perturb: {args.n} claims per kind from {result['corpus']} ({result['duration_s']} s)")
        print(perturb_text(result))
    return EXIT_OK


def _ms(value: float) -> str:
    return f"{value:.0f}"


def cmd_stats(args: argparse.Namespace) -> int:
    from rag_app.measure.ledger import Ledger, summarize

    by = tuple(part.strip() for part in args.by.split(",") if part.strip())
    if not by or set(by) - {"day", "backend"}:
        raise ConfigError("--by takes day, backend or day,backend")
    settings = load_settings(args, persist_dir=args.persist_dir)
    ledger = Ledger(settings.persist_path / Ledger.FILE)
    since = time.time() - args.days * 86400 if args.days else None
    groups = summarize(ledger.rows(since), by)
    if args.json:
        print(json.dumps(groups))
        return EXIT_OK
    if not groups:
        print(f"No queries recorded in {ledger.path} yet (ask with `rag-app query`; RAG_LEDGER=0 turns recording off).")
        return EXIT_OK
    head = [*by, "queries", "retrieve p50/p95 ms", "generate p50/p95 ms", "total p50/p95 ms", "tokens in/out", "cost"]
    rows = [head]
    for g in groups:
        cost = "n/a" if g["cost_total"] is None else f"${g['cost_total']:.6f}"
        if g["unpriced"] and g["cost_total"] is not None:
            cost += f" (+{g['unpriced']} unpriced)"
        rows.append(
            [*(str(g[key]) for key in by), str(g["queries"]),
             f"{_ms(g['retrieve_p50_ms'])}/{_ms(g['retrieve_p95_ms'])}",
             f"{_ms(g['generate_p50_ms'])}/{_ms(g['generate_p95_ms'])}",
             f"{_ms(g['total_p50_ms'])}/{_ms(g['total_p95_ms'])}",
             f"{g['prompt_tokens_mean']:.0f}/{g['completion_tokens_mean']:.0f}", cost]
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    for number, row in enumerate(rows):
        print("  ".join(c.ljust(w) if i < len(by) else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if number == 0:
            print("  ".join("-" * w for w in widths))
    total = [g["cost_total"] for g in groups if g["cost_total"] is not None]
    unpriced = sum(g["unpriced"] for g in groups)
    print(f"total: {sum(g['queries'] for g in groups)} queries, ${sum(total):.6f}" + (f" (+{unpriced} unpriced)" if unpriced else ""))
    return EXIT_OK


def cmd_cost(args: argparse.Namespace) -> int:
    from rag_app.measure.costs import estimate, estimate_text
    from rag_app.measure.ledger import Ledger
    from rag_app.measure.usage import PriceTable

    if args.epochs < 1 or args.queries_per_day < 0:
        raise ConfigError("--epochs must be at least 1 and --queries-per-day not negative")
    with open_app(args) as app:
        prices = PriceTable.for_settings(app.settings)
        rows = Ledger(app.settings.persist_path / Ledger.FILE).rows()
        examples = Path(args.finetune_examples) if args.finetune_examples else None
        result = estimate(app, prices, rows, args.queries_per_day, examples, args.epochs)
    print(json.dumps(result) if args.json else estimate_text(result))
    return EXIT_OK


COMMANDS = {
    "eval": cmd_eval,
    "stats": cmd_stats,
    "cost": cmd_cost,
}
