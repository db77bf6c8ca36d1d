"""Follow-up questions: condense them with the history into a standalone question.

A generative backend rewrites the follow-up itself (LangChain's
"condense question" step). Backends that cannot generate free text
(``extractive``, ``fake``) get a deterministic fallback: a question that reads
as a follow-up (it starts with "and", "what about", ... or refers back with
"it", "they", "that", "ones", ...) gets the content words of the previous
question that it lacks appended, so "and carbon ones?" after "How long is the
aluminium frame warranty?" searches for "and carbon ones? (aluminium frame
warranty)". Other questions are left alone.
"""

from __future__ import annotations

import re
from collections import deque
from typing import TYPE_CHECKING, Sequence

from chains.text import STOPWORDS

if TYPE_CHECKING:
    from chains import AnswerBackend

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


def condense(backend: "AnswerBackend", question: str, history: Sequence[tuple[str, str]]) -> str:
    """``question`` as a standalone question; unchanged when there is no history."""
    question = question.strip()
    if not history:
        return question
    if backend.generative:
        transcript = "\n".join(f"User: {q}\nAssistant: {a}" for q, a in history)
        messages = [
            {"role": "system", "content": CONDENSE_SYSTEM},
            {"role": "user", "content": f"Conversation:\n{transcript}\n\nFollow-up question: {question}\n\nStandalone question:"},
        ]
        try:
            rewritten = backend.generate(messages).strip().strip('"').strip()
        except NotImplementedError:
            rewritten = ""
        if rewritten:
            return rewritten.splitlines()[0].strip()
    return keyword_condense(question, history[-1][0])


def looks_like_follow_up(question: str) -> bool:
    """Starts like a continuation, or refers back to something said before."""
    lowered = question.lower().lstrip()
    words = {w.lower() for w in _WORD.findall(question)}
    return lowered.startswith(_FOLLOW_UP_START) or bool(words & _BACK_REFERENCES)


def keyword_condense(question: str, previous: str) -> str:
    """Deterministic fallback: a follow-up gets the previous question's missing content words."""
    if not looks_like_follow_up(question):
        return question
    have = {w.lower() for w in _WORD.findall(question)}
    missing: list[str] = []
    for word in _WORD.findall(previous):
        lowered = word.lower()
        if lowered not in STOPWORDS and lowered not in have and lowered not in {m.lower() for m in missing}:
            missing.append(word)
    return f"{question} ({' '.join(missing)})" if missing else question
