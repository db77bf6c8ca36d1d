"""What a question's form asks for, and how well a sentence holds such a thing.

"How long ...?" wants a duration, "how far" a distance, "when" a date, "where" a place, "who" a
name, "why" a reason; "which X ...?" (plural) or "list ..." wants every record of type X that
fits. :func:`question_form` reads that from the question; :func:`cue_score` says (0 to 1) whether a
candidate sentence holds something of the wanted kind that the question does not already say.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NUMBER = re.compile(r"(?<![\w.])(\d+(?:[.,]\d+)*)(?:\s*(%|[a-zA-Z€$£]+))?")
_NUMBER_WORDS = frozenset(
    "one two three four five six seven eight nine ten eleven twelve fifteen twenty thirty forty fifty "
    "hundred thousand million billion dozen half twice".split()
)
_UNITS = {
    "duration": r"years?|months?|weeks?|days?|hours?|h|minutes?|min|seconds?|s|decades?|centur(?:y|ies)|nights?",
    "distance": r"km|kilomet(?:re|er)s?|miles?|m|metres?|meters?|ft|feet|foot|inch(?:es)?|cm|mm",
    "money": r"eur|euros?|dollars?|usd|pounds?|gbp|cents?|€|\$|£|price",
    "percent": r"%|percent|per cent",
    "weight": r"kg|kilograms?|g|grams?|tonnes?|tons?|pounds?|lbs?",
    "speed": r"km/h|kph|mph|knots?",
    "count": r"[a-z]{3,}",
}
_FREQUENCY = re.compile(r"\b(every|each|once|twice|times|per|daily|weekly|monthly|yearly|annually|a (?:day|week|month|year))\b", re.I)
_MONTHS = re.compile(
    r"\b(January|February|March|April|May|June|July|August|September|October|November|December|"
    r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\b"
)
_YEAR = re.compile(r"\b(1[0-9]{3}|20[0-9]{2})s?\b|\b\d+(?:st|nd|rd|th) century\b|\b(?:BC|AD|BCE|CE)\b")
_REASON = re.compile(r"\b(because|since|due to|so that|in order to|as a result|reason|caused by|thanks to|owing to)\b", re.I)
_CAPITAL = re.compile(r"(?<![\w'])([A-Z][a-zA-Z'’\-]+)")
_PLACE_LEAD = re.compile(r"\b(?:in|at|from|near|to|into|across|of)\s+(?:the\s+)?([A-Z][a-zA-Z\-]+)")

# "what ...", "which ...", "in what ...": up to three words ("was the first") before the kind's noun
_WHAT = r"\b(?:what|which)\s+(?:[a-z'-]+\s+){0,3}?"

# The question form, in order: the first pattern that matches decides.
_FORMS = [
    (r"\bhow\s+long\b", "duration"),
    (r"\bhow\s+far\b|\bwhat\s+(?:is\s+the\s+)?(?:range|distance)\b", "distance"),
    (r"\bhow\s+often\b|\bhow\s+frequently\b", "frequency"),
    (r"\bhow\s+much\b.*\b(?:cost|costs|price|pay|charge|worth)\b|\bwhat\s+(?:is\s+the\s+|does\s+.*\s)?(?:price|cost)\b", "money"),
    (r"\bwhat\s+(?:percentage|percent|proportion|share|fraction)\b|\bhow\s+much\s+of\b", "percent"),
    (r"\bhow\s+(?:heavy|much\s+does\s+.*\s+weigh)\b|\bwhat\s+(?:is\s+the\s+)?weight\b", "weight"),
    (r"\bhow\s+fast\b|\bwhat\s+(?:is\s+the\s+)?speed\b", "speed"),
    (r"\bhow\s+(?:many|much|old|big|large|tall|high|wide|deep|large)\b|\bwhat\s+(?:number|amount|size)\b", "count"),
    (rf"\bwhen\b|{_WHAT}(?:year|years|date|day|month|century|decade|time|period|era)\b", "date"),
    (rf"\bwhere\b|{_WHAT}(?:city|cities|country|countries|state|town|place|region|river|continent|island|location|county|street|building|area)\b", "place"),
    (rf"\bwho\b|\bwhom\b|\bwhose\b|{_WHAT}(?:person|people|company|organi[sz]ation|group|team|man|woman|king|queen|president|university|band|author|scientist|leader|emperor)\b", "name"),
    (r"\bwhy\b|\bwhat\s+(?:is\s+the\s+)?(?:reason|cause)\b", "reason"),
]
_LIST = re.compile(r"^\s*(?:(?:and\s+)?which\s+((?:[a-z][\w\-]*\s+){0,2}[a-z][\w\-]*[^\Wsiu_]s)\b(?<!\bdoes)(?<!\bgoes)(?<!\bwas)(?<!\bhas)(?<!\bthis)|list\b|name\s+(?:all|the)\b|show\s+(?:me\s+)?(?:all|every)\b|what\s+are\s+(?:all\s+)?the\s+\w+s\b)", re.I)


@dataclass(frozen=True)
class Form:
    """What the question asks for: ``wants`` one of the kinds above (or ``None``); ``listing``:
    every matching record ("which service centres ...?"), not the best one."""

    wants: str | None
    listing: bool
    #: The kind of thing a "which ...s" question lists ("service centres"), else "".
    subject: str = ""


def question_form(question: str) -> Form:
    lowered = question.lower()
    wants = next((kind for pattern, kind in _FORMS if re.search(pattern, lowered)), None)
    listing = _LIST.search(question)
    return Form(wants, bool(listing), (listing.group(1) or "") if listing else "")


def _numbers(text: str) -> list[tuple[str, str]]:
    """``(number, word after it)`` pairs; the word may be a unit."""
    return [(m.group(1).replace(",", ""), (m.group(2) or "").lower()) for m in _NUMBER.finditer(text.replace("_", " "))]


def _unit_after(text: str, kind: str) -> bool:
    unit = re.compile(rf"(?:{_UNITS[kind]})\b" if kind != "percent" else _UNITS[kind], re.I)
    flat = text.replace("_", " ")
    for match in _NUMBER.finditer(flat):
        if unit.match(flat[match.end(1):].lstrip()[:12]):
            return True
    # a record field "range_km: 90" names its unit before the number
    return bool(re.search(rf"\b(?:{_UNITS[kind]})\s*:\s*\d", flat, re.I)) if kind not in {"count", "percent"} else False


def cue_score(form: Form, text: str, question: str) -> float:
    """0..1: how clearly ``text`` holds the kind of thing ``form`` asks for (beyond the question)."""
    kind = form.wants
    if kind is None:
        return 0.0
    asked = {n for n, _ in _numbers(question)}
    fresh = [n for n, _ in _numbers(text) if n not in asked]
    if kind in {"duration", "distance", "money", "percent", "weight", "speed", "count"}:
        if not fresh:
            return 0.3 if any(w in _NUMBER_WORDS for w in re.findall(r"[a-z]+", text.lower())) else 0.0
        return 1.0 if _unit_after(text, kind) else 0.6
    if kind == "frequency":
        return 1.0 if _FREQUENCY.search(text) and fresh else 0.6 if _FREQUENCY.search(text) or fresh else 0.0
    if kind == "date":
        years = [m.group(0) for m in _YEAR.finditer(text) if m.group(0) not in question]
        return 1.0 if years or (_MONTHS.search(text) and not _MONTHS.search(question)) else 0.3 if fresh else 0.0
    if kind == "reason":
        return 1.0 if _REASON.search(text) else 0.0
    known = {w.lower() for w in re.findall(r"[A-Za-z][\w'’\-]*", question)}
    names = [m.group(1) for i, m in enumerate(_CAPITAL.finditer(text)) if m.start() > 0 and m.group(1).lower() not in known]
    if kind == "place":
        led = [m.group(1) for m in _PLACE_LEAD.finditer(text) if m.group(1).lower() not in known]
        return 1.0 if led else 0.5 if names else 0.0
    # a name: two capitalised words in a row are a person or an organisation, if the question does not name it
    pairs = [
        m.group(0) for m in re.finditer(r"(?<!^)\b[A-Z][a-z]+(?:\s+(?:de|van|von|der|of|the)?\s*[A-Z][a-z]+)+", text)
        if not {w.lower() for w in m.group(0).split()} & known
    ]
    return 1.0 if pairs else 0.6 if names else 0.0
