"""``rag-app cost``: what the indexed corpus costs to embed, to query, and to fine-tune on instead.

RAG and fine-tuning are compared the way people decide between them: an
up-front cost (embedding the corpus once; or a training run) against a
per-query cost (a prompt carrying retrieved context; or a short prompt to a
fine-tuned model, which is dearer per token). Per-query figures use the
average prompt and completion sizes measured in the ledger when it has
queries, and an estimate from the index (``k`` average chunks) when not.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag_app.errors import ConfigError
from rag_app.jsonl import read_jsonl
from rag_app.measure.usage import TOKENS_PER_MESSAGE, TOKENS_PER_REPLY, PriceTable

if TYPE_CHECKING:
    from rag_app.app import RagApp

#: Prompt tokens besides the context: instructions, question, chat formatting (measured: ~86 on SQuAD).
PROMPT_OVERHEAD_TOKENS = 90
#: Completion size assumed when the ledger has no queries yet.
ASSUMED_COMPLETION_TOKENS = 60
DAYS_PER_MONTH = 30


@dataclass
class CorpusTokens:
    chunks: int
    tokens: int

    @property
    def mean_chunk_tokens(self) -> float:
        return self.tokens / self.chunks if self.chunks else 0.0


def corpus_tokens(app: "RagApp", page: int = 2000) -> CorpusTokens:
    """Chunks in the index and their ``cl100k_base`` tokens (what an OpenAI embedding model bills)."""
    from loaders.tokens import count_tokens

    collection = app.vector_index().collection()
    total = collection.count()
    tokens = 0
    for offset in range(0, total, page):
        got = collection.get(include=["documents"], limit=page, offset=offset)
        tokens += sum(count_tokens(d or "") for d in got["documents"] or [])
    return CorpusTokens(total, tokens)


def query_profile(rows: list[dict[str, Any]], corpus: CorpusTokens, k: int) -> dict[str, Any]:
    """Average prompt/context/completion tokens: measured from the ledger, else estimated."""
    if rows:
        n = len(rows)
        local = [r["generate_ms"] for r in rows if str(r["backend"]).startswith("local:")]
        return {
            "source": f"measured over {n} queries in the ledger",
            "context_tokens": sum(r["context_tokens"] for r in rows) / n,
            "prompt_tokens": sum(r["prompt_tokens"] for r in rows) / n,
            "completion_tokens": sum(r["completion_tokens"] for r in rows) / n,
            "local_generate_ms": sum(local) / len(local) if local else None,
        }
    context = k * corpus.mean_chunk_tokens
    return {
        "source": f"estimated: k={k} chunks of {corpus.mean_chunk_tokens:.0f} tokens, {ASSUMED_COMPLETION_TOKENS}-token answers",
        "context_tokens": context,
        "prompt_tokens": context + PROMPT_OVERHEAD_TOKENS,
        "completion_tokens": float(ASSUMED_COMPLETION_TOKENS),
        "local_generate_ms": None,
    }


def _examples_tokens(path: Path) -> tuple[int, int, float]:
    """(examples, total training tokens, mean question tokens) of a fine-tuning file.

    Accepts OpenAI chat fine-tuning JSONL (``{"messages": [...]}``), ``{"prompt", "completion"}``
    and this project's QA format (``{"question", "answer"}``).
    """
    from loaders.tokens import count_tokens

    expected = '{"messages": [...]}, prompt/completion or question/answer'
    examples = tokens = 0
    question_tokens = 0
    for number, record in read_jsonl(path, what="fine-tuning examples", expected=expected):
        if isinstance(record.get("messages"), list):
            texts = [str(m.get("content") or "") for m in record["messages"] if isinstance(m, dict)]
            asked = next((str(m.get("content") or "") for m in record["messages"] if isinstance(m, dict) and m.get("role") == "user"), "")
        elif "prompt" in record or "question" in record:
            asked = str(record.get("prompt", record.get("question")) or "")
            texts = [asked, str(record.get("completion", record.get("answer")) or "")]
        else:
            raise ConfigError(f"{path}:{number}: expected {expected}")
        examples += 1
        tokens += sum(count_tokens(t, "o200k_base") + TOKENS_PER_MESSAGE for t in texts) + TOKENS_PER_REPLY
        question_tokens += count_tokens(asked, "o200k_base")
    if not examples:
        raise ConfigError(f"{path} holds no examples")
    return examples, tokens, question_tokens / examples


def estimate(
    app: "RagApp",
    prices: PriceTable,
    rows: list[dict[str, Any]],
    queries_per_day: float,
    finetune_examples: Path | None = None,
    epochs: int = 3,
) -> dict[str, Any]:
    """Everything ``rag-app cost`` prints, as a dict."""
    corpus = corpus_tokens(app)
    profile = query_profile(rows, corpus, app.settings.k)
    per_month = queries_per_day * DAYS_PER_MONTH
    embedding = [
        {"model": app.settings.embeddings + " (configured, local)", "cost": 0.0},
        *({"model": name, "cost": corpus.tokens * float(p["input"]) / 1e6} for name, p in prices.embeddings.items()),
    ]
    prompt, completion = profile["prompt_tokens"], profile["completion_tokens"]
    backends: list[dict[str, Any]] = [{"backend": "extractive", "per_query": 0.0}]
    local_ms = profile["local_generate_ms"]
    backends.append(
        {
            "backend": "local",
            "per_query": prices.local_cost(local_ms) if local_ms is not None else (0.0 if not prices.local_cost_per_hour else None),
            "note": f"{prices.local_cost_per_hour:g} $/h" + ("" if local_ms is not None else ", no measured local queries"),
        }
    )
    for name in prices.chat:
        backends.append({"backend": f"openai:{name}", "per_query": prices.chat_cost(name, round(prompt), round(completion))})
    configured = app.settings.llm if ":" in app.settings.llm or app.settings.llm != "openai" else f"openai:{app.settings.openai_model}"
    for row in backends:
        row["per_month"] = None if row["per_query"] is None else row["per_query"] * per_month
        row["configured"] = row["backend"] == configured or row["backend"] == configured.split(":")[0]
    result: dict[str, Any] = {
        "prices_taken": prices.taken,
        "corpus": {"chunks": corpus.chunks, "tokens": corpus.tokens},
        "embedding": embedding,
        "query_profile": profile,
        "queries_per_day": queries_per_day,
        "backends": backends,
    }
    if finetune_examples is not None:
        examples, tokens, question_tokens = _examples_tokens(finetune_examples)
        ft_prompt = question_tokens + PROMPT_OVERHEAD_TOKENS // 2  # a short system prompt, no context
        runs = []
        for name, price in prices.chat.items():
            if "training" not in price:
                continue
            per_query = prices.chat_cost(name, round(ft_prompt), round(completion), fine_tuned=True)
            rag = prices.chat_cost(name, round(prompt), round(completion))
            runs.append(
                {
                    "model": name,
                    "training_tokens": tokens * epochs,
                    "training_cost": tokens * epochs * float(price["training"]) / 1e6,
                    "per_query": per_query,
                    "per_month": None if per_query is None else per_query * per_month,
                    "rag_per_month": None if rag is None else rag * per_month,
                }
            )
        result["finetune"] = {"examples": examples, "tokens_per_epoch": tokens, "epochs": epochs, "runs": runs}
    return result


def _money(value: float | None) -> str:
    return "n/a" if value is None else f"${value:,.6f}" if value < 0.01 else f"${value:,.2f}"


def estimate_text(result: dict[str, Any]) -> str:
    corpus, profile = result["corpus"], result["query_profile"]
    lines = [
        f"Prices per 1M tokens as of {result['prices_taken']} (edit them: RAG_PRICES=your.json).",
        "",
        f"Corpus: {corpus['chunks']} chunks, {corpus['tokens']:,} tokens. One-time embedding cost:",
    ]
    lines += [f"  {row['model']:<40} {_money(row['cost'])}" for row in result["embedding"]]
    lines += [
        "",
        f"Per query ({profile['source']}): {profile['prompt_tokens']:.0f} prompt tokens "
        f"(context {profile['context_tokens']:.0f}) + {profile['completion_tokens']:.0f} completion tokens.",
        f"  {'backend':<28} {'per query':>12} {'per month @ ' + format(result['queries_per_day'], 'g') + '/day':>22}",
    ]
    for row in result["backends"]:
        mark = " *" if row.get("configured") else ""
        note = f"  ({row['note']})" if row.get("note") else ""
        lines.append(f"  {row['backend'] + mark:<28} {_money(row['per_query']):>12} {_money(row['per_month']):>22}{note}")
    if "finetune" in result:
        ft = result["finetune"]
        lines += [
            "",
            f"Fine-tuning instead: {ft['examples']} examples, {ft['tokens_per_epoch']:,} tokens × {ft['epochs']} epochs "
            "(then each query sends only the question, at fine-tuned prices):",
            f"  {'model':<16} {'training':>12} {'per query':>12} {'per month':>14} {'RAG per month':>14}",
        ]
        for run in ft["runs"]:
            lines.append(
                f"  {run['model']:<16} {_money(run['training_cost']):>12} {_money(run['per_query']):>12} "
                f"{_money(run['per_month']):>14} {_money(run['rag_per_month']):>14}"
            )
        lines.append("  A fine-tuned model also has to be retrained when the documents change; RAG only reindexes.")
    lines.append("* = the configured backend (RAG_LLM)")
    return "\n".join(lines)
