"""``rag-app eval --perturb``: ask the chain claims true and changed, count what it shows as supported.

The claims come from the indexed corpus's own sentences (:mod:`rag_app.measure.perturb`). A
deterministic chat model answers each question with its claim, so everything else is the real
app: retrieval for the claim, the grounded prompt, the support check. A claim is *shown as
supported* when the answer's support status is ``supported``; any other status (``partial``,
``unsupported``) catches it.
"""

from __future__ import annotations

import random
import statistics
from typing import TYPE_CHECKING, Any, Callable

from rag_app.measure.perturb import (
    KINDS, TARGETS, Sentence, change_number, drop_qualifier, eligible, names_in, negate, stitch, swap_name,
)

if TYPE_CHECKING:
    from rag_app.app import RagApp

#: Examples of claims judged the wrong way kept per kind in the report.
EXAMPLES = 3


def claim_model() -> Any:
    """A chat model that answers with whatever its ``claim`` attribute holds (no network)."""
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    class ClaimModel(GenericFakeChatModel):
        claim: str = ""

        def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> Any:
            from langchain_core.outputs import ChatGeneration, ChatResult

            return ChatResult(generations=[ChatGeneration(message=AIMessage(content=self.claim))])

    return ClaimModel(messages=iter(()))


def corpus_sentences(app: "RagApp") -> list[Sentence]:
    """Every distinct eligible sentence of the indexed chunks, in a stable order."""
    from chains.text import sentences

    got = app.vector_index().collection().get(include=["documents", "metadatas"])
    rows = sorted(zip(got["ids"], got["documents"] or []), key=lambda r: r[0])
    seen: set[str] = set()
    out = []
    for number, (_, text) in enumerate(rows):
        for order, sentence in enumerate(sentences(text or "")):
            if sentence not in seen and eligible(sentence):
                seen.add(sentence)
                out.append(Sentence(sentence, number, order))
    return out


def build_claims(app: "RagApp", pool: list[Sentence], n: int, seed: int) -> dict[str, list[tuple[str, str]]]:
    """Per kind, up to ``n`` ``(source sentence, claim)`` pairs, deterministic for ``seed``."""
    rng = random.Random(seed)
    order = list(pool)
    rng.shuffle(order)
    names = sorted({name for s in pool for name in names_in(s.text)})
    by_passage: dict[int, list[Sentence]] = {}
    for sentence in pool:
        by_passage.setdefault(sentence.passage, []).append(sentence)
    claims: dict[str, list[tuple[str, str]]] = {kind: [] for kind in KINDS}

    def near(s: Sentence) -> list[Sentence]:
        return [o for o in sorted(by_passage[s.passage], key=lambda o: o.order) if 0 < o.order - s.order <= 3]

    makers: dict[str, Callable[[Sentence], str | None]] = {
        "verbatim": lambda s: s.text,
        "number": lambda s: change_number(s.text, rng),
        "name_corpus": lambda s: swap_name(s.text, names, rng),
        "name_retrieved": lambda s: swap_name(s.text, _retrieved_names(app, s.text), rng),
        "negation": lambda s: negate(s.text),
        "qualifier": lambda s: drop_qualifier(s.text, rng),
        "stitched": lambda s: next((c for o in near(s) if (c := stitch(s.text, o.text))), None),
    }
    for kind in KINDS:
        for sentence in order:
            if len(claims[kind]) >= n:
                break
            if kind == "name_retrieved" and not names_in(sentence.text):
                continue
            claim = makers[kind](sentence)
            if claim:
                claims[kind].append((sentence.text, claim))
    return claims


def _retrieved_names(app: "RagApp", text: str) -> list[str]:
    """Names in the passages retrieved for ``text`` other than the one that holds it."""
    return [name for doc in app.retrieve(text) if text not in " ".join(doc.page_content.split())
            for name in names_in(" ".join(doc.page_content.split()))]


def run_perturb(app: "RagApp", model: Any, n: int, seed: int, progress: Callable[[str], None]) -> dict[str, Any]:
    """Ask every claim through ``app`` (whose chat model is ``model``) and count the verdicts."""
    pool = corpus_sentences(app)
    progress(f"{len(pool)} eligible sentences; building claims (n={n}, seed={seed}) ...")
    claims = build_claims(app, pool, n, seed)
    kinds: dict[str, Any] = {}
    timings: list[float] = []
    for kind, pairs in claims.items():
        counts = {"supported": 0, "partial": 0, "unsupported": 0, "other": 0}
        wrong: list[dict[str, Any]] = []
        for source, claim in pairs:
            model.claim = claim
            answer = app.query(claim)
            support = answer.support
            status = support.status if support else "other"
            counts[status if status in counts else "other"] += 1
            timings.append(support.check_ms if support else 0.0)
            shown = status == "supported"
            if shown != (kind == "verbatim") and len(wrong) < EXAMPLES:
                sentence = support.sentences[0] if support and support.sentences else None
                wrong.append({"claim": claim, "source": source, "status": status,
                              "cited": sentence.citations[0].text if sentence and sentence.citations else None})
        total = len(pairs)
        shown_rate = counts["supported"] / total if total else None
        rate = shown_rate if kind == "verbatim" else (None if shown_rate is None else 1 - shown_rate)
        kinds[kind] = {
            "n": total, **counts, "shown_supported": _round(shown_rate),
            "measure": "shown as supported" if kind == "verbatim" else "caught",
            "rate": _round(rate), "target": TARGETS[kind], "met": rate is not None and rate >= TARGETS[kind],
            "examples": wrong,
        }
        progress(f"  {kind}: {total} claims, {kinds[kind]['measure']} {_fmt(rate)}")
    return {
        "sentences": len(pool), "n": n, "seed": seed, "kinds": kinds,
        "check_ms_p50": _round(statistics.median(timings)) if timings else None,
        "check_ms_p95": _round(sorted(timings)[int(0.95 * (len(timings) - 1))]) if timings else None,
        "met": all(k["met"] for k in kinds.values() if k["n"]),
    }


def perturb_text(result: dict[str, Any]) -> str:
    """The per-kind table."""
    rows = [("kind", "n", "supported", "partial", "unsupported", "measure", "rate", "target", "met")]
    for kind, k in result["kinds"].items():
        rows.append((kind, str(k["n"]), str(k["supported"]), str(k["partial"]), str(k["unsupported"]),
                     k["measure"], _fmt(k["rate"]), f"{k['target']:.2f}", "yes" if k["met"] else "NO"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i in (0, 5) else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(f"support check: p50 {_fmt(result['check_ms_p50'], 1)} ms, p95 {_fmt(result['check_ms_p95'], 1)} ms per answer; "
                 f"claims from {result['sentences']} sentences, seed {result['seed']}")
    for kind, k in result["kinds"].items():
        for example in k["examples"]:
            lines.append(f"  {kind} judged {example['status']}: {example['claim']!r}")
    return "\n".join(lines)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
