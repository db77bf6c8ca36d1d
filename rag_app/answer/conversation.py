"""Follow-up questions: condense them with the history into a standalone question.

A chat model rewrites the follow-up itself (LangChain's "condense question"
step), but a weak model must never silently replace the user's question: the
rewrite is used only when it keeps every content word of the question (and adds
at most a sentence's worth). Otherwise — and for answerers that cannot write
free text (``extractive``) — a deterministic rule applies: a question that reads
as a follow-up (it starts with "and", "what about", ... or refers back with
"it", "they", "that", "ones", ...) gets the content words of the previous
question that it lacks appended, so "and carbon ones?" after "How long is the
aluminium frame warranty?" searches for "and carbon ones? (aluminium frame
warranty)". A follow-up that names its own topic, and other questions, are left
alone. The REPL prints what it searched when that differs from what was typed.
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
    "it its it's they them their theirs that those this these he she his her him there one ones same".split()
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


def condense(llm: "LLM", question: str, history: Sequence[tuple[str, str]]) -> str:
    """``question`` as a standalone question; unchanged when there is no history."""
    question = question.strip()
    if not history:
        return question
    if llm.generative:
        transcript = "\n".join(f"User: {q}\nAssistant: {a}" for q, a in history)
        messages = [
            ("system", CONDENSE_SYSTEM),
            ("human", f"Conversation:\n{transcript}\n\nFollow-up question: {question}\n\nStandalone question:"),
        ]
        try:
            reply = llm.chat_model.invoke(messages).text
        except Exception:  # noqa: BLE001 - condensing is a nicety; the rule below still works
            reply = ""
        lines = [line for line in reply.strip().splitlines() if line.strip()]
        rewritten = lines[0].strip().strip('"').strip() if lines else ""
        if keeps_question(question, rewritten):
            return rewritten
    return keyword_condense(question, history[-1][0])


def keeps_question(question: str, rewritten: str) -> bool:
    """Whether ``rewritten`` still asks ``question``: a question, with all its content words, not a ramble."""
    if not rewritten.endswith("?") or len(rewritten.split()) > MAX_REWRITE_WORDS:
        return False
    return set(content_words(question)) <= set(content_words(rewritten))


def looks_like_follow_up(question: str) -> bool:
    """Starts like a continuation, or refers back to something said before."""
    lowered = question.lower().lstrip()
    words = {w.lower() for w in _WORD.findall(question)}
    return lowered.startswith(_FOLLOW_UP_START) or bool(words & _BACK_REFERENCES)


def keyword_condense(question: str, previous: str) -> str:
    """Deterministic fallback: a follow-up gets the previous question's missing content words.

    A follow-up that names its own topic ("and what about the battery warranty?": two content
    words, nothing referring back) stands alone: the previous topic would only pull the search
    away from it.
    """
    if not looks_like_follow_up(question):
        return question
    refers_back = bool({w.lower() for w in _WORD.findall(question)} & _BACK_REFERENCES)
    if not refers_back and len(set(content_words(question))) >= 2:
        return question
    have = {w.lower() for w in _WORD.findall(question)}
    missing: list[str] = []
    for word in _WORD.findall(previous):
        lowered = word.lower()
        if lowered not in STOPWORDS and lowered not in have and lowered not in {m.lower() for m in missing}:
            missing.append(word)
    return f"{question} ({' '.join(missing)})" if missing else question
