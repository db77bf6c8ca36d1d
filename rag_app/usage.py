"""Tokens and cost of a query: count with the backend's own tokenizer, price with an editable table.

- OpenAI models: tiktoken (offline encodings, :mod:`loaders.tokens`) with the
  model's encoding; when the server reports usage, that is recorded instead and
  the estimate's relative error is kept beside it.
- Local GGUF models: the model's tokenizer (``LocalBackend.count_tokens``).
- Everything else (extractive, fake, plugins): a ``cl100k_base`` estimate.

Prices come from ``prices.json`` shipped with the package (USD per million
tokens, with the date they were taken), merged with the user's file named by
``RAG_PRICES``. Local models cost ``RAG_LOCAL_COST_PER_HOUR`` × generation time
(0 by default).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from rag_app.errors import ConfigError

if TYPE_CHECKING:
    from langchain_core.documents import Document

    from chains import AnswerBackend
    from rag_app.config import Settings
    from rag_app.results import Answer

DEFAULT_PRICES = Path(__file__).with_name("prices.json")
FALLBACK_ENCODING = "cl100k_base"
#: Chat-format overhead per message and for the reply (OpenAI's published counting recipe).
TOKENS_PER_MESSAGE = 3
TOKENS_PER_REPLY = 3


# --- the price table ---------------------------------------------------------------------

def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


class PriceTable:
    """Per-million-token prices for chat and embedding models, and a local cost per hour."""

    def __init__(self, data: dict[str, Any], local_cost_per_hour: float | None = None) -> None:
        self.data = data
        self.taken = str(data.get("taken", "unknown date"))
        self.chat: dict[str, dict[str, Any]] = dict(data.get("chat", {}))
        self.embeddings: dict[str, dict[str, Any]] = dict(data.get("embeddings", {}))
        table_rate = float(data.get("local", {}).get("cost_per_hour", 0.0) or 0.0)
        self.local_cost_per_hour = local_cost_per_hour if local_cost_per_hour else table_rate

    @classmethod
    def load(cls, user_file: str | Path | None = None, local_cost_per_hour: float | None = None) -> "PriceTable":
        """The shipped table, overridden entry by entry by ``user_file`` (JSON)."""
        data = json.loads(DEFAULT_PRICES.read_text(encoding="utf-8"))
        if user_file:
            path = Path(user_file).expanduser()
            try:
                extra = json.loads(path.read_text(encoding="utf-8"))
            except OSError as exc:
                raise ConfigError(f"Cannot read price file {path}: {exc.strerror} (check RAG_PRICES)") from None
            except json.JSONDecodeError as exc:
                raise ConfigError(f"Price file {path} is not valid JSON (line {exc.lineno}): fix it or unset RAG_PRICES") from None
            if not isinstance(extra, dict):
                raise ConfigError(f"Price file {path} must hold a JSON object like the shipped prices.json")
            data = _merge(data, extra)
        return cls(data, local_cost_per_hour)

    @classmethod
    def for_settings(cls, settings: "Settings") -> "PriceTable":
        return cls.load(settings.prices_file or None, settings.local_cost_per_hour)

    @staticmethod
    def _find(table: dict[str, dict[str, Any]], model: str) -> dict[str, Any] | None:
        if model in table:
            return table[model]
        # Dated snapshots ("gpt-4o-mini-2024-07-18") and fine-tunes ("ft:gpt-4o-mini:org::id").
        bare = model.split(":")[1] if model.startswith("ft:") and model.count(":") >= 1 else model
        matches = [name for name in table if bare == name or bare.startswith(name + "-")]
        return table[max(matches, key=len)] if matches else None

    def chat_price(self, model: str) -> dict[str, Any] | None:
        return self._find(self.chat, model)

    def embedding_price(self, model: str) -> dict[str, Any] | None:
        return self._find(self.embeddings, model)

    def chat_cost(self, model: str, prompt_tokens: int, completion_tokens: int, fine_tuned: bool = False) -> float | None:
        """USD for one call, or ``None`` when the model has no price."""
        price = self.chat_price(model)
        if price is None:
            return None
        inp, out = ("ft_input", "ft_output") if fine_tuned else ("input", "output")
        if inp not in price:
            return None
        return (prompt_tokens * float(price[inp]) + completion_tokens * float(price.get(out, 0.0))) / 1e6

    def local_cost(self, generate_ms: float) -> float:
        return self.local_cost_per_hour * generate_ms / 3.6e6


def encoding_for(model: str, prices: PriceTable | None = None) -> str:
    """The tiktoken encoding of an OpenAI model (o200k for the 4o/4.1/5/o-series)."""
    price = prices.chat_price(model) if prices else None
    if price and price.get("encoding"):
        return str(price["encoding"])
    bare = model.split(":")[1] if model.startswith("ft:") else model
    if bare.startswith(("gpt-4o", "gpt-4.1", "gpt-5", "o1", "o3", "o4", "chatgpt-4o")):
        return "o200k_base"
    return FALLBACK_ENCODING


# --- counting ----------------------------------------------------------------------------

@dataclass
class Usage:
    """Tokens and cost of one query. ``cost`` is ``None`` when the model has no known price."""

    prompt_tokens: int
    context_tokens: int
    completion_tokens: int
    counted_by: str
    cost: float | None
    estimate_error: float | None = None  # (our count - provider's) / provider's, prompt + completion

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.cost is not None:
            data["cost"] = round(self.cost, 8)
        if self.estimate_error is not None:
            data["estimate_error"] = round(self.estimate_error, 4)
        return data


def _tiktoken_counter(encoding: str) -> Callable[[str], int]:
    from loaders.tokens import count_tokens

    return lambda text: count_tokens(text, encoding)


def token_counter(backend: "AnswerBackend", prices: PriceTable | None = None) -> tuple[Callable[[str], int], str]:
    """A function counting tokens as ``backend``'s model does, and what it is called."""
    from chains.backend import AnswerBackend

    describe = backend.describe()
    if describe.startswith("openai:"):
        encoding = encoding_for(describe.split(":", 1)[1], prices)
        return _tiktoken_counter(encoding), f"tiktoken:{encoding}"
    # The base class counts with cl100k; only a backend's own override is its model's tokenizer.
    if type(backend).count_tokens is not AnswerBackend.count_tokens:
        return backend.count_tokens, "model tokenizer"
    return _tiktoken_counter(FALLBACK_ENCODING), f"estimate:{FALLBACK_ENCODING}"


def _reported(backend: "AnswerBackend") -> tuple[int, int] | None:
    usage = getattr(backend, "last_usage", None)
    if usage is None:
        return None
    get = usage.get if isinstance(usage, dict) else lambda key: getattr(usage, key, None)
    prompt, completion = get("prompt_tokens"), get("completion_tokens")
    if prompt is None or completion is None:
        return None
    return int(prompt), int(completion)


def measure(
    backend: "AnswerBackend",
    question: str,
    documents: Sequence["Document"],
    answer: str,
    generate_ms: float,
    prices: PriceTable,
) -> Usage:
    """Tokens and cost of one answered question."""
    from chains.prompt import format_context, qa_messages

    count, counted_by = token_counter(backend, prices)
    context_tokens = count(format_context(documents)) if documents else 0
    messages = qa_messages(question, documents)
    prompt_tokens = sum(count(m["content"]) + TOKENS_PER_MESSAGE for m in messages) + TOKENS_PER_REPLY
    completion_tokens = count(answer) if answer else 0
    estimate_error = None
    reported = _reported(backend)
    if reported is not None:
        backend.last_usage = None  # type: ignore[attr-defined]  # consumed: never reuse it for another call
        ours = prompt_tokens + completion_tokens
        theirs = sum(reported)
        estimate_error = (ours - theirs) / theirs if theirs else None
        prompt_tokens, completion_tokens = reported
        counted_by = "provider"
    describe = backend.describe()
    cost: float | None
    if describe.startswith("openai:"):
        cost = prices.chat_cost(describe.split(":", 1)[1], prompt_tokens, completion_tokens)
    elif describe.startswith("local:"):
        cost = prices.local_cost(generate_ms)
    elif not backend.generative or describe in {"fake", "extractive"} or describe.startswith("fake"):
        cost = 0.0
    else:
        cost = None
    return Usage(prompt_tokens, context_tokens, completion_tokens, counted_by, cost, estimate_error)


@lru_cache(maxsize=8)
def _prices_cached(user_file: str, local_cost_per_hour: float) -> PriceTable:
    return PriceTable.load(user_file or None, local_cost_per_hour)


def account(settings: "Settings", answer: "Answer", backend: "AnswerBackend", streamed: bool = False) -> None:
    """Attach :class:`Usage` to ``answer`` and record the query in the ledger.

    Accounting never fails a query: a broken price file or a read-only ledger
    gives a warning and the answer stands.
    """
    try:
        prices = _prices_cached(settings.prices_file, settings.local_cost_per_hour)
        usage = measure(backend, answer.question, answer.documents, answer.answer, answer.timings_ms.get("generate", 0.0), prices)
        answer.usage = usage.to_dict()
        if settings.ledger:
            from rag_app.ledger import Ledger

            Ledger(settings.persist_path / Ledger.FILE).record(answer, usage, streamed=streamed)
    except Exception as exc:  # noqa: BLE001 - bookkeeping must not cost the user their answer
        warnings.warn(f"query not recorded in the ledger: {exc}", stacklevel=3)
