"""Retrieval and chain flags shared by ``query`` and ``repl`` (standard library only)."""

from __future__ import annotations

import argparse
from typing import Any


def add_retrieval_options(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group("retrieval")
    mode = group.add_mutually_exclusive_group()
    mode.add_argument("--mmr", action="store_true", default=None, help="diverse results: maximal marginal relevance over --fetch-k candidates")
    mode.add_argument("--hybrid", action="store_true", default=None, help="BM25 keyword ranking fused with the vector ranking (the default, RAG_SEARCH=hybrid)")
    mode.add_argument("--vector", dest="search", action="store_const", const="vector", help="vector similarity only")
    mode.add_argument("--bm25", dest="search", action="store_const", const="bm25", help="BM25 keyword ranking only")
    group.add_argument("--fetch-k", type=int, metavar="N", help="candidates for --mmr/--hybrid (RAG_FETCH_K)")
    group.add_argument("--min-score", type=float, metavar="S", help="drop chunks with cosine similarity below S (RAG_MIN_SCORE)")
    group.add_argument("--where", metavar="FIELD:GLOB", help="only chunks whose metadata matches, e.g. 'source:docs/*.md'")
    group.add_argument("--chain", choices=["stuff", "map_reduce"], help="stuff: one prompt; map_reduce: per passage, then combine (RAG_CHAIN)")


def retrieval_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of :meth:`RagApp.query` the flags set."""
    return {
        "mmr": args.mmr,
        "hybrid": args.hybrid,
        "search": getattr(args, "search", None),
        "fetch_k": args.fetch_k,
        "min_score": args.min_score,
        "where": args.where,
        "chain": args.chain,
    }
