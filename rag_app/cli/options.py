"""Flags shared by commands, and the one route from flags to the app (standard library only).

Every flag that names a setting becomes a settings override (validated once, by
:class:`~rag_app.settings.Settings`, with the variable's name in the error); only
``--where``, which has no setting, is passed to :meth:`RagApp.query` as a keyword.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rag_app.app import RagApp
    from rag_app.settings import Settings

#: Flags whose value is the setting of the same name.
SETTING_FLAGS = ("persist_dir", "collection", "embeddings", "k", "llm", "unsupported", "min_relevance",
                 "fetch_k", "min_score", "chain")


def add_index_options(parser: argparse.ArgumentParser) -> None:
    """Which index a command works on."""
    group = parser.add_argument_group("index")
    group.add_argument("--persist-dir", help="Chroma directory (RAG_PERSIST_DIR)")
    group.add_argument("--collection", help="collection name (RAG_COLLECTION)")
    group.add_argument("--embeddings", help="embedding model (RAG_EMBEDDINGS)")


def add_ask_options(parser: argparse.ArgumentParser) -> None:
    """How a question is answered: ``query``, ``repl`` and ``serve``."""
    p = parser
    p.add_argument("--k", type=int, help="chunks to retrieve (RAG_K)")
    p.add_argument("--llm", help="backend: local, extractive, openai, azure, ollama, ... (RAG_LLM)")
    p.add_argument("--unsupported", choices=["flag", "fallback", "drop"], help="when no sentence of the answer is supported by the sources (RAG_UNSUPPORTED)")
    p.add_argument("--min-relevance", metavar="SCORE", help="answer 'not in the documents' without the LLM when the best match scores less (RAG_MIN_RELEVANCE; 0 = off)")
    group = p.add_argument_group("retrieval")
    mode = group.add_mutually_exclusive_group()
    mode.add_argument("--mmr", dest="search", action="store_const", const="mmr", help="diverse results: maximal marginal relevance over --fetch-k candidates (RAG_SEARCH=mmr)")
    mode.add_argument("--hybrid", dest="search", action="store_const", const="hybrid", help="BM25 keyword ranking fused with the vector ranking (the default, RAG_SEARCH=hybrid)")
    mode.add_argument("--vector", dest="search", action="store_const", const="vector", help="vector similarity only (RAG_SEARCH=vector)")
    mode.add_argument("--bm25", dest="search", action="store_const", const="bm25", help="BM25 keyword ranking only (RAG_SEARCH=bm25)")
    group.add_argument("--fetch-k", type=int, metavar="N", help="candidates for --mmr/--hybrid (RAG_FETCH_K)")
    group.add_argument("--min-score", type=float, metavar="S", help="drop chunks with cosine similarity below S (RAG_MIN_SCORE)")
    group.add_argument("--where", metavar="FIELD:GLOB", help="only chunks whose metadata matches, e.g. 'source:docs/*.md'")
    group.add_argument("--chain", choices=["stuff", "map_reduce"], help="stuff: one prompt; map_reduce: per passage, then combine (RAG_CHAIN)")


def settings_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The settings the command's flags set (flags a command lacks, or left out, are ``None``)."""
    return {name: getattr(args, name, None) for name in (*SETTING_FLAGS, "search")}


def query_keywords(args: argparse.Namespace) -> dict[str, Any]:
    """What goes to :meth:`RagApp.query` beside the settings: the ``--where`` filter."""
    where = getattr(args, "where", None)
    return {"where": where} if where else {}


def load_settings(args: argparse.Namespace, **overrides: Any) -> "Settings":
    """``--env-file``, the environment, then ``overrides`` (``None`` values ignored)."""
    from rag_app.settings import Settings

    return Settings.load(args.env_file, **overrides)


def open_app(args: argparse.Namespace, **extra: Any) -> "RagApp":
    """The app the flags describe, with ``extra`` settings on top."""
    from rag_app.app import RagApp

    return RagApp(load_settings(args, **{**settings_overrides(args), **extra}))
