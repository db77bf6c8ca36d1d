"""``rag-app advise``: fine-tuning, RAG, or both? A recommendation tied to your answers.

Fine-tuning changes how a model writes (tone, format, behaviour) and bakes in
what it saw at training time; RAG hands it knowledge at query time, with the
sources, and an update is a reindex away. The advisor asks the questions
people decide by, scores each answer for one side, and explains the result
answer by answer. The rules are in :data:`RULES`; each is one line of reasoning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from rag_app.errors import ConfigError


@dataclass(frozen=True)
class Criterion:
    name: str
    question: str
    choices: dict[str, str]  # value -> what it means


CRITERIA: list[Criterion] = [
    Criterion("need", "What should the model get from your data?", {
        "knowledge": "facts from the documents", "style": "a tone, format or behaviour", "both": "facts and a style"}),
    Criterion("changes", "How often does the data change?", {
        "never": "static", "monthly": "a few times a year to monthly", "weekly": "every week", "daily": "every day or more"}),
    Criterion("size", "How much knowledge is there?", {
        "small": "under ~50 pages", "medium": "up to a few thousand pages", "large": "more than that"}),
    Criterion("attribution", "Must answers show the sources they came from?", {"yes": "yes", "no": "no"}),
    Criterion("latency", "Latency budget per answer?", {
        "tight": "under 0.5 s", "moderate": "0.5 to 3 s", "relaxed": "over 3 s"}),
    Criterion("cost", "Which cost model suits you?", {
        "upfront": "pay once to train, then short prompts", "per-query": "no training; every query pays for its context",
        "either": "no preference"}),
    Criterion("update", "How soon must a change show in the answers?", {
        "immediate": "minutes", "days": "within days", "rarely": "it hardly matters"}),
]

#: (criterion, answer) -> (side, points, reason). Sides: "rag", "finetune".
RULES: dict[tuple[str, str], tuple[str, int, str]] = {
    ("need", "knowledge"): ("rag", 3, "you need facts: retrieval hands the model the right passage at query time; "
                            "a fine-tuned small model recalls facts unreliably"),
    ("need", "style"): ("finetune", 3, "you need a tone/format: fine-tuning teaches behaviour that prompting "
                        "only approximates, and it costs no context tokens per query"),
    ("need", "both"): ("both", 3, "you need facts and a style: fine-tune for the style, retrieve for the facts"),
    ("changes", "daily"): ("rag", 3, "data changing daily would leave a fine-tuned model stale within a day; reindexing is incremental"),
    ("changes", "weekly"): ("rag", 2, "weekly changes mean retraining weekly; a reindex only embeds the changed chunks"),
    ("changes", "monthly"): ("rag", 1, "monthly changes still favour reindexing over retraining"),
    ("changes", "never"): ("finetune", 1, "static data can be baked into weights once"),
    ("size", "large"): ("rag", 2, "a large corpus does not fit in a small model's weights; retrieval scales with the index"),
    ("size", "medium"): ("rag", 1, "a medium corpus is more than a small model can memorise reliably"),
    ("size", "small"): ("finetune", 1, "a small body of knowledge can be learned (or simply put in the prompt)"),
    ("attribution", "yes"): ("rag", 3, "only retrieval can cite the file and lines an answer came from"),
    ("latency", "tight"): ("finetune", 2, "a tight budget favours short prompts: no retrieval step and no context to read"),
    ("latency", "relaxed"): ("rag", 1, "a relaxed budget leaves room for retrieval and a longer prompt"),
    ("cost", "upfront"): ("finetune", 1, "you accept a training cost up front in exchange for shorter, cheaper prompts"),
    ("cost", "per-query"): ("rag", 2, "no training run: you pay per query for the retrieved context instead"),
    ("update", "immediate"): ("rag", 3, "an edit is answerable as soon as it is reindexed (seconds), not after a training run"),
    ("update", "days"): ("rag", 1, "updates within days are easy by reindexing, possible by retraining"),
    ("update", "rarely"): ("finetune", 1, "rare updates make retraining affordable"),
}


@dataclass
class Advice:
    recommendation: str  # "rag", "finetune" or "hybrid"
    reasons: list[tuple[str, str, str, int, str]]  # (criterion, answer, side, points, reason)
    scores: dict[str, int]

    @property
    def title(self) -> str:
        return {
            "rag": "RAG (retrieval-augmented generation)",
            "finetune": "fine-tuning",
            "hybrid": "hybrid: a fine-tuned model answering from retrieved context",
        }[self.recommendation]

    def to_dict(self) -> dict[str, Any]:
        return {
            "recommendation": self.recommendation,
            "scores": self.scores,
            "reasons": [{"criterion": c, "answer": a, "favours": s, "points": p, "reason": r} for c, a, s, p, r in self.reasons],
        }


def advise(answers: dict[str, str | None]) -> Advice:
    """Score ``answers`` (criterion name -> choice, ``None`` = unknown) and recommend."""
    known = {c.name: c for c in CRITERIA}
    for name, value in answers.items():
        if name not in known:
            raise ConfigError(f"Unknown criterion {name!r}; known: {', '.join(known)}")
        if value is not None and value not in known[name].choices:
            raise ConfigError(f"--{name} must be one of {', '.join(known[name].choices)}, got {value!r}")
    scores = {"rag": 0, "finetune": 0}
    reasons = []
    for criterion in CRITERIA:
        value = answers.get(criterion.name)
        rule = RULES.get((criterion.name, value)) if value else None
        if rule is None:
            continue
        side, points, reason = rule
        for s in (("rag", "finetune") if side == "both" else (side,)):
            scores[s] += points
        reasons.append((criterion.name, value, side, points, reason))
    need = answers.get("need")
    style = need in ("style", "both")
    knowledge = need in ("knowledge", "both")
    # Knowledge pressure beyond the stated need: sources, fresh or large data.
    rag_pressure = scores["rag"] - (3 if knowledge else 0) >= 3
    if style and (knowledge or rag_pressure):
        recommendation = "hybrid"
    elif style:
        recommendation = "finetune"
    elif knowledge:
        recommendation = "rag" if scores["rag"] >= scores["finetune"] else "finetune"
    else:
        recommendation = "rag" if scores["rag"] >= scores["finetune"] else "finetune"
    return Advice(recommendation, reasons, scores)


def render(advice: Advice) -> str:
    lines = [f"Recommendation: {advice.title}", "", "Why:"]
    if not advice.reasons:
        lines.append("  (no answers given; RAG is the safe default: no training, sources shown, updates by reindexing)")
    for criterion, answer, side, points, reason in advice.reasons:
        label = {"rag": "RAG", "finetune": "fine-tune", "both": "both"}[side]
        lines.append(f"  {criterion}={answer}  → {label} +{points}: {reason}")
    lines += ["", f"Score: RAG {advice.scores['rag']}, fine-tuning {advice.scores['finetune']}", "", "Next:"]
    lines += {
        "rag": ["  rag-app reindex DOCS && rag-app query \"...\""],
        "finetune": ["  rag-app finetune EXAMPLES.jsonl && RAG_LLM=hf:./fine-tuned-model rag-app query --no-retrieval \"...\""],
        "hybrid": ["  rag-app finetune EXAMPLES.jsonl   # style: tone and answer format",
                   "  rag-app reindex DOCS               # knowledge, with sources",
                   "  RAG_LLM=hf:./fine-tuned-model rag-app query \"...\""],
    }[advice.recommendation]
    return "\n".join(lines)


def interview(answers: dict[str, str | None], ask: Callable[[str], str] = input,
              out: Callable[[str], None] = print) -> dict[str, str | None]:
    """Ask for every criterion not answered yet; an empty reply means "don't know"."""
    answers = dict(answers)
    for criterion in CRITERIA:
        if answers.get(criterion.name):
            continue
        options = ", ".join(f"{value} ({meaning})" for value, meaning in criterion.choices.items())
        while True:
            try:
                reply = ask(f"{criterion.question}\n  {options}\n  [Enter = don't know] > ").strip().lower()
            except EOFError:  # Ctrl-D: the rest stays unknown
                return answers
            if not reply:
                answers[criterion.name] = None
                break
            matches = [v for v in criterion.choices if v.startswith(reply)]
            if len(matches) == 1:
                answers[criterion.name] = matches[0]
                break
            out(f"  please answer one of: {', '.join(criterion.choices)}")
    return answers
