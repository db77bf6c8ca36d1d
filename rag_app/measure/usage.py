"""Tokens and cost of a query: count with the backend's own tokenizer, price with an editable table.

- When the chat model reports ``usage_metadata`` (OpenAI-compatible servers,
  llama.cpp, transformers, most LangChain providers), that is recorded, and our
  own count's relative error is kept beside it.
- Otherwise the model's own tokenizer (tiktoken with the model's encoding for
  OpenAI models, the GGUF vocabulary for local ones), else a ``cl100k_base``
  estimate (extractive, plugins).

Prices come from ``prices.json`` shipped with the package (USD per million
tokens, with the date they were taken), merged with the user's file named by
``RAG_PRICES``. Local models cost ``RAG_LOCAL_COST_PER_HOUR`` × generation time
(0 by default).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from rag_app.errors import ConfigError

if TYPE_CHECKING:
    from langchain_core.documents import Document

    from chains.llm import LLM
    from rag_app.settings import Settings
    from rag_app.results import Answer

DEFAULT_PRICES = Path(__file__).with_name("prices.json")
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


def measure(
    llm: "LLM",
    question: str,
    documents: Sequence["Document"],
    answer: str,
    generate_ms: float,
    prices: PriceTable,
    reported: dict[str, int] | None = None,
) -> Usage:
    """Tokens and cost of one answered question.

    ``reported`` is the chat model's ``usage_metadata`` (``input_tokens``,
    ``output_tokens``): when the model reports it, it is what counts, and our own
    count's relative error is kept beside it.
    """
    from chains.prompt import format_context

    count, counted_by = llm.count_tokens, llm.counted_by
    context_tokens = count(format_context(documents)) if documents else 0
    messages = llm.prompt(question, documents)
    prompt_tokens = sum(count(m.text) + TOKENS_PER_MESSAGE for m in messages) + TOKENS_PER_REPLY
    completion_tokens = count(answer) if answer else 0
    estimate_error = None
    if reported and reported.get("input_tokens") is not None and reported.get("output_tokens") is not None:
        theirs = int(reported["input_tokens"]) + int(reported["output_tokens"])
        ours = prompt_tokens + completion_tokens
        estimate_error = (ours - theirs) / theirs if theirs else None
        prompt_tokens, completion_tokens = int(reported["input_tokens"]), int(reported["output_tokens"])
        counted_by = "provider"
    cost: float | None
    if llm.billing == "free" or not llm.generative:
        cost = 0.0
    elif llm.billing == "local":
        cost = prices.local_cost(generate_ms)
    else:
        cost = prices.chat_cost(llm.model_name or "", prompt_tokens, completion_tokens)
    return Usage(prompt_tokens, context_tokens, completion_tokens, counted_by, cost, estimate_error)


@lru_cache(maxsize=8)
def _prices_cached(user_file: str, local_cost_per_hour: float) -> PriceTable:
    return PriceTable.load(user_file or None, local_cost_per_hour)


def meter(settings: "Settings") -> Callable[["LLM", "Answer", dict[str, int] | None], Usage]:
    """``(llm, answer, reported) -> Usage`` priced with the settings' price table."""

    def measure_answer(llm: "LLM", answer: "Answer", reported: dict[str, int] | None) -> Usage:
        prices = _prices_cached(settings.prices_file, settings.local_cost_per_hour)
        # what the model wrote, even when the support policy shows quotes instead
        written = answer.support.generated if answer.support and answer.support.generated else answer.answer
        return measure(llm, answer.question, answer.documents, written,
                       answer.timings_ms.get("generate", 0.0), prices, reported)

    return measure_answer


def ledger_recorder(settings: "Settings", ledger: Any = None) -> Callable[["Answer", bool], None]:
    """Appends an answered query (its usage already counted) to the ledger, if it is on.

    ``ledger``: what records the rows (a :class:`~rag_app.measure.ledger.LedgerWriter` in a
    server); by default the settings' ledger file, written on the caller's thread.
    """

    def record(answer: "Answer", streamed: bool) -> None:
        if not settings.ledger or not answer.usage:
            return
        from rag_app.measure.ledger import Ledger

        fields = {k: answer.usage.get(k) for k in ("prompt_tokens", "context_tokens", "completion_tokens",
                                                   "counted_by", "cost", "estimate_error")}
        target = ledger if ledger is not None else Ledger(settings.persist_path / Ledger.FILE)
        target.record(answer, Usage(**fields), streamed=streamed)

    return record
