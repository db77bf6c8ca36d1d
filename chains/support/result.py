"""What the support check found: per sentence, the passages (and lines) that support it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

SUPPORTED, PARTIAL, UNSUPPORTED, ABSTAINED, NOT_IN_DOCUMENTS = (
    "supported", "partial", "unsupported", "abstained", "not_in_documents",
)


@dataclass(frozen=True)
class Citation:
    """A span of a retrieved passage that supports (or comes closest to) a sentence."""

    passage: int  # 1-based, as the prompt and the sources list number them
    source: str
    text: str
    score: float
    start_line: int | None = None
    end_line: int | None = None
    page: int | None = None
    headings: str = ""  # the heading path or sheet name: part of an Office file's location

    def location(self, display: Callable[[str], str] = str) -> str:
        """``data/warranty.md:9-10`` or ``manual.pdf p.2`` (``display`` shortens the path)."""
        from loaders.location import location

        return location(display(self.source), self.start_line, self.end_line, self.page, self.headings)

    def to_dict(self, display: Callable[[str], str] = str) -> dict[str, Any]:
        data: dict[str, Any] = {"passage": self.passage, "source": display(self.source)}
        if self.page is not None:
            data["page"] = self.page
        else:
            data.update(start_line=self.start_line, end_line=self.end_line)
        data.update(score=round(self.score, 3), text=self.text)
        return data


@dataclass(frozen=True)
class SentenceSupport:
    """One sentence of the answer and the spans that support it."""

    text: str
    score: float
    supported: bool
    #: Best span first; for an unsupported sentence, the closest span (never shown as a marker).
    citations: tuple[Citation, ...] = ()
    #: Numbers (with units) and names of the sentence that the cited text does not state.
    missing: tuple[str, ...] = ()
    #: ``supported``, ``partial`` (the cited text states part of it: a qualifier, quantity or
    #: subject differs) or ``unsupported``.
    verdict: str = ""
    #: Why it is not (wholly) supported, in words.
    reasons: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.verdict:
            object.__setattr__(self, "verdict", SUPPORTED if self.supported else UNSUPPORTED)

    def to_dict(self, display: Callable[[str], str] = str) -> dict[str, Any]:
        return {
            "text": self.text,
            "score": round(self.score, 3),
            "supported": self.supported,
            "verdict": self.verdict,
            "citations": [c.to_dict(display) for c in self.citations],
            "missing": list(self.missing),
            "reasons": list(self.reasons),
        }


@dataclass
class Support:
    """How well the retrieved passages back an answer, sentence by sentence.

    ``status`` describes the generated answer (``supported``, ``partial``, ``unsupported``,
    ``abstained``, or ``not_in_documents`` when no answer was generated); ``action`` what was
    done about it (``none``, ``flag``, ``fallback``, ``drop``, ``not_in_documents``).
    """

    status: str
    score: float
    threshold: float
    sentences: list[SentenceSupport] = field(default_factory=list)
    action: str = "none"
    note: str = ""
    #: The generated answer when something else is shown (``fallback``, ``drop``).
    generated: str | None = None
    #: ``fallback``: the quotes shown instead, with where they are.
    quotes: list[SentenceSupport] = field(default_factory=list)
    #: The answer with the check's ``[n]`` markers and ``[partial]``/``[unsupported]`` flags.
    cited_text: str = ""
    #: The same answer with the same ``[n]`` markers and no flags (``Answer.answer``).
    marked_text: str = ""
    check_ms: float = 0.0

    @property
    def unsupported(self) -> list[SentenceSupport]:
        """Sentences not wholly supported (``partial`` ones included)."""
        return [s for s in self.sentences if not s.supported]

    @property
    def shown(self) -> list[SentenceSupport]:
        """The sentences of the text the user sees (the quotes, after a fallback)."""
        return self.quotes if self.action == "fallback" else self.sentences

    def to_dict(self, display: Callable[[str], str] = str) -> dict[str, Any]:
        data: dict[str, Any] = {
            "status": self.status,
            "score": round(self.score, 3),
            "threshold": self.threshold,
            "action": self.action,
            "sentences": [s.to_dict(display) for s in self.sentences],
            "check_ms": round(self.check_ms, 1),
        }
        if self.note:
            data["note"] = self.note
        if self.generated is not None:
            data["generated"] = self.generated
        if self.quotes:
            data["quotes"] = [s.to_dict(display) for s in self.quotes]
        return data


# --- text features ------------------------------------------------------------------------
