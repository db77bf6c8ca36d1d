"""Follow-up questions: condense them with the history into a standalone question.

A capable chat model rewrites the follow-up itself (LangChain's "condense question" step), but
never silently replaces the user's question: the rewrite is used only when it keeps every
content word of the question (and adds at most a sentence's worth). Answerers that cannot be
trusted with that — ``extractive``, ``fake`` and the tiny default local model — and any rewrite
that fails the guard use a deterministic rule (:func:`keyword_condense`):

- a question that does not read as a follow-up is left alone;
- the previous question is read as *what it asks* (the question words and aspects: "how long",
  "warranty", "price", "range") and *its topic* (the rest: "aluminium frame");
- "and the battery?" names a new topic: it keeps what was asked and drops the old topic →
  ``and the battery? (how long warranty)``;
- "is it waterproof?" refers back: it keeps the old topic → ``is it waterproof? (e-Commuter)``;
- "and on Saturday?" narrows the previous question: it keeps all of it.

Over several turns the rule folds: each follow-up is read against the previous *standalone*
question, so a third turn still knows the first one's "how long ... warranty". The REPL and the
server both call :func:`condense`; the REPL prints what it searched when it differs from what
was typed, and every answer's ``question`` is the question searched.
"""

from __future__ import annotations

import re
from collections import deque
from typing import TYPE_CHECKING, Sequence

from chains.text import STOPWORDS, content_words

if TYPE_CHECKING:
    from chains.llm import LLM

CONDENSE_SYSTEM = (
    "Rewrite the user's follow-up question as one standalone question that can be understood "
    "without the conversation. Keep names and numbers. Reply with the question only."
)
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'-]*")
_FOLLOW_UP_START = ("and ", "but ", "what about", "how about", "also ", "then ", "so ", "or ")
_BACK_REFERENCES = frozenset(
    "it its it's they them their theirs that those these he she his her him there ones same".split()
)


class Conversation:
    """The last ``max_turns`` question/answer pairs."""

    def __init__(self, max_turns: int = 6) -> None:
        self.turns: deque[tuple[str, str]] = deque(maxlen=max(1, max_turns))

    def add(self, question: str, answer: str) -> None:
        self.turns.append((question, answer))

    def reset(self) -> None:
        self.turns.clear()

    def __len__(self) -> int:
        return len(self.turns)


#: A rewrite longer than this many words is a ramble, not a question.
MAX_REWRITE_WORDS = 40


def condenses_by_rule(llm: "LLM") -> bool:
    """Whether follow-ups for ``llm`` are condensed by the rule, not by the model: no free text
    (``extractive``), the ``fake`` model, or a tiny local one (SmolLM2-135M/360M)."""
    if not llm.generative or llm.provider == "fake":
        return True
    name = f"{llm.model_name or ''} {llm.label}".lower()
    return llm.provider == "local" and any(tag in name for tag in _TINY)


def condense(llm: "LLM", question: str, history: Sequence[tuple[str, str]]) -> str:
    """``question`` as a standalone question; unchanged when there is no history."""
    question = question.strip()
    if not history:
        return question
    previous = standalone_history([q for q, _ in history])
    if not condenses_by_rule(llm):
        transcript = "\n".join(f"User: {q}\nAssistant: {a}" for q, a in history)
        messages = [
            ("system", CONDENSE_SYSTEM),
            ("human", f"Conversation:\n{transcript}\n\nFollow-up question: {question}\n\nStandalone question:"),
        ]
        try:
            reply = llm.chat_model.invoke(messages).text  # type: ignore[union-attr]
        except Exception:  # noqa: BLE001 - condensing is a nicety; the rule below still works
            reply = ""
        lines = [line for line in reply.strip().splitlines() if line.strip()]
        rewritten = lines[0].strip().strip('"').strip() if lines else ""
        if keeps_question(question, rewritten):
            return rewritten
    return keyword_condense(question, previous)


def standalone_history(questions: Sequence[str]) -> str:
    """The last of ``questions`` as the rule reads it: each one condensed against the one before."""
    current = ""
    for question in questions:
        current = keyword_condense(question.strip(), current) if current else question.strip()
    return current


def keeps_question(question: str, rewritten: str) -> bool:
    """Whether ``rewritten`` still asks ``question``: a question, with all its content words, not a ramble."""
    if not rewritten.endswith("?") or len(rewritten.split()) > MAX_REWRITE_WORDS:
        return False
    return set(content_words(question)) <= set(content_words(rewritten))


def looks_like_follow_up(question: str) -> bool:
    """Starts like a continuation ("and ...", "what about ..."), refers back ("it", "ones", "there")
    without naming a topic of its own, or is a bare phrase ("carbon frames?")."""
    lowered = question.lower().lstrip()
    if lowered.startswith(_FOLLOW_UP_START):
        return True
    words = [w.lower() for w in _WORD.findall(question)]
    asked, topic = split_question(question)
    if set(words) & _BACK_REFERENCES and len(topic) < 2:
        return True
    if not topic:  # "how long do I have?"
        return bool(words)
    return question.rstrip().endswith("?") and len(words) <= 3 and not set(words) & _QUESTION_WORDS


def split_question(question: str) -> tuple[list[str], list[str]]:
    """``(asked, topic)``: the question words and aspects ("how long", "warranty"), and the rest."""
    asked: list[str] = []
    topic: list[str] = []
    words = _WORD.findall(_strip_parenthesised(question))
    lowered = [w.lower() for w in words]
    for i, (word, low) in enumerate(zip(words, lowered)):
        if low in _QUESTION_WORDS:
            nxt = lowered[i + 1] if i + 1 < len(lowered) else ""
            asked.append(f"{low} {nxt}" if low == "how" and nxt in _HOW_WORDS else low)
        elif low in _ASPECTS:
            asked.append(word)
        elif low not in STOPWORDS and low not in _FILLER and low not in _BACK_REFERENCES and low not in _HOW_WORDS:
            topic.append(word)
    return list(dict.fromkeys(asked)), list(dict.fromkeys(topic))


def _names(question: str) -> set[str]:
    """Names in ``question``: capitalised words after the first, codes like ``E01``, numbers."""
    words = _WORD.findall(_strip_parenthesised(question))
    return {
        w.lower() for i, w in enumerate(words)
        if (i and any(c.isupper() for c in w) and w.lower() not in _QUESTION_WORDS) or any(c.isdigit() for c in w)
    }


def keyword_condense(question: str, previous: str) -> str:
    """The deterministic rule (see the module docstring): ``question (words kept from previous)``."""
    if not previous or not looks_like_follow_up(question):
        return question
    asked, topic = split_question(previous)
    own_asked, own_topic = split_question(question)
    lowered = question.lower()
    words = {w.lower() for w in _WORD.findall(question)}
    aspects = [w for w in asked if w.lower() in _ASPECTS]
    own_aspects = [w for w in own_asked if w.lower() in _ASPECTS]
    if "ones" in words or "one" in words and own_topic:  # "aluminium ones": the same kind of thing
        keep = asked + topic[-1:]
    elif _NARROWS.match(lowered):  # "and on saturday?": the same question, narrowed
        keep = asked + topic
    elif words & _BACK_REFERENCES or _WHICH_ONES.search(lowered) or not own_topic:  # "is it waterproof?"
        keep = topic + ([] if own_aspects else aspects) + ([] if own_asked else [w for w in asked if w not in aspects])
    elif _names(question) and _names(previous):  # "and E02?": a new name for the old one, the rest stays
        keep = asked + topic
    else:  # "and the battery?": a new topic, the same thing asked
        keep = [] if own_aspects else asked
    if _names(question):  # "and in Rotterdam?": a new name replaces the old one
        old = _names(previous)
        keep = [w for w in keep if w.lower() not in old]
    keep = [w for w in keep if w.lower() != "what"]
    kept = [w for w in dict.fromkeys(keep) if not set(w.lower().split()) <= words]
    return f"{question} ({' '.join(kept)})" if kept else question


def _strip_parenthesised(text: str) -> str:
    """``and the battery? (how long warranty)`` reads as ``how long warranty and the battery?``."""
    match = re.match(r"^(.*?)\s*\(([^()]*)\)\s*$", text)
    return f"{match.group(2)} {match.group(1)}" if match else text


_TINY = ("135m", "360m")
_QUESTION_WORDS = frozenset("how what when where which who whom whose why".split())
_HOW_WORDS = frozenset("long much many far often old big heavy fast large tall wide high soon".split())
#: Words that say what is asked about a topic (kept when the topic changes).
_ASPECTS = frozenset(
    """warranty warranties guarantee covered cover coverage cost costs price prices priced fee fees range
    distance weight weigh weighs size length capacity duration delivery deliver refund return returns address
    phone email contact opening hours open closed speed pressure temperature lifetime life interval intervals
    policy rules limit maximum minimum difference charge charging colour color material materials""".split()
)
_FILLER = frozenset("tell me about explain describe show give know want like please need say anything more".split())
_NARROWS = re.compile(r"^\s*(?:and|or|but|also)?\s*(?:on|in|at|during|for|with|without|after|before|by|from|under|over|in)\s", re.I)
_WHICH_ONES = re.compile(r"\bwhich\s+(?:ones|are|is|of\s+them|do|does|have|has)\b")
