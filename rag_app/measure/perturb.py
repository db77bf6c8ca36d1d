"""Claims built from a corpus's own sentences, true and changed: what ``eval --perturb`` asks.

Each kind takes a sentence of the corpus and makes one claim of it (pure, seeded functions):

- ``verbatim``: the sentence as it is (should be shown as supported);
- ``number``: one number changed to a value the sentence does not have;
- ``name_corpus``: a proper name swapped for a name found elsewhere in the corpus;
- ``name_retrieved``: a proper name swapped for one from another passage retrieved for it;
- ``negation``: "not" added after the first auxiliary verb ("is" → "is not");
- ``qualifier``: a qualifier or part of the subject dropped (a leading "In 1990," phrase, a
  quantity or hedge word such as "typically", a prepositional tail of the subject such as
  "of the Northwind e-Commuter", or a modifier before the subject's noun);
- ``stitched``: the subject of one sentence joined to the predicate of a nearby sentence about
  something else ("The motor … is covered" + "… for 2 years" of the battery's sentence).

Every kind but ``verbatim`` states something the corpus does not: it should be caught.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

KINDS = ("verbatim", "number", "name_corpus", "name_retrieved", "negation", "qualifier", "stitched")
#: Share of claims that must be shown as supported (verbatim) or caught (the others).
TARGETS = {"verbatim": 0.97, "number": 0.95, "name_corpus": 0.95, "name_retrieved": 0.95, "negation": 0.95,
           "stitched": 0.95, "qualifier": 0.7}

AUX = ("is", "are", "was", "were", "has", "have", "had", "can", "could", "will", "would", "should", "may", "might",
       "must", "does", "do", "did")
_NEGATED = re.compile(r"\b(?:not|no|never|none|nothing|nobody|neither|nor|without|cannot)\b|n't\b", re.I)
_WORD = re.compile(r"\S+")
_NAME = re.compile(r"(?<=[a-z0-9,;] )([A-Z][a-z]+(?:[A-Z][a-z]+)?)\b")
_NUMBER = re.compile(r"(?<![\w.,])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(?![\w.]*\w)")
_HEDGES = ("only", "typically", "usually", "generally", "often", "mostly", "mainly", "largely", "nearly", "almost",
           "approximately", "roughly", "some", "most", "many", "several", "all", "every", "always", "may", "might",
           "at least", "up to", "more than", "less than", "partly", "primarily")
#: Sentences starting with these have no plain subject to take or to give.
_NOT_SUBJECTS = frozenset("If When You We I It They This These There Although While As For In On At To Because".split())
_CONTINUES = ("it ", "its ", "they ", "their ", "this ", "these ", "those ", "he ", "she ", "his ", "her ", "such ", "which ")


@dataclass(frozen=True)
class Sentence:
    text: str
    passage: int  # which chunk it came from (index into the corpus's chunk list)
    order: int  # position in that chunk


def eligible(text: str) -> bool:
    """A sentence worth making claims of: prose, 8-45 words, ends with a full stop."""
    words = text.split()
    if not 8 <= len(words) <= 45 or not text.endswith(".") or not text[:1].isupper():
        return False
    if any(mark in text for mark in ("`", ">>>", "::", "http", "#", "|", "=", "{", "}", "_", "\\", "*")):
        return False
    letters = sum(c.isalpha() for c in text)
    return letters >= 0.7 * len(text.replace(" ", ""))


def aux_index(words: list[str], within: int = 60) -> int | None:
    """The position of the first auxiliary verb after the first word (within the first ``within``
    words), or ``None``."""
    return next((i for i, w in enumerate(words[:within]) if i > 0 and w.lower() in AUX), None)


def subject_end(words: list[str]) -> int | None:
    """Where a plain subject ends: the first auxiliary verb, if it comes within ten words and no
    comma or relative word comes before it."""
    at = aux_index(words, 10)
    if at is None or any(w.endswith((",", ";", ":")) or w.lower() in ("where", "that", "which", "who", "when")
                         for w in words[:at]):
        return None
    return at


def change_number(text: str, rng: random.Random) -> str | None:
    found = list(_NUMBER.finditer(text))
    if not found:
        return None
    have = {float(m.group(1).replace(",", "")) for m in found}
    match = rng.choice(found)
    raw = match.group(1).replace(",", "")
    value = float(raw)
    for _ in range(20):
        if raw.isdigit() and 1000 <= value <= 2100:
            new = str(int(value) + rng.choice([-1, 1]) * rng.randint(1, 30))
        elif raw.isdigit():
            new = str(max(int(value) + rng.choice([-1, 1]) * rng.randint(1, max(3, int(value) // 2 or 1)), 0))
        else:
            new = f"{value * rng.choice([0.5, 0.8, 1.25, 2]):g}"
        if float(new) not in have:
            return text[: match.start(1)] + new + text[match.end(1):]
    return None


def names_in(text: str) -> list[str]:
    return list(dict.fromkeys(_NAME.findall(text)))


def swap_name(text: str, pool: list[str], rng: random.Random) -> str | None:
    """A name of ``text`` replaced by one of ``pool`` that ``text`` does not contain."""
    own = names_in(text)
    choices = sorted({p for p in pool if p.lower().rstrip("s") not in text.lower()})
    if not own or not choices:
        return None
    old, new = rng.choice(own), rng.choice(choices)
    return re.sub(rf"(?<=[a-z0-9,;] ){re.escape(old)}\b", new, text, count=1)


def negate(text: str) -> str | None:
    if _NEGATED.search(text):
        return None
    words = text.split(" ")
    at = aux_index(words)
    if at is None:
        return None
    return " ".join(words[: at + 1] + ["not"] + words[at + 1:])


def drop_qualifier(text: str, rng: random.Random) -> str | None:
    """One way of dropping a qualifier or narrowing part of the subject, chosen at random among
    those that apply."""
    ways = []
    lead = re.match(r"^((?:In|On|At|By|During|After|Before|Since|From|Until|Under|For|As|With|Between|[A-Z][a-z]+ing)\b[^,]{2,80}), (.)", text)
    if lead and len(text[lead.end(1) + 2:].split()) >= 5:
        rest = text[lead.end(1) + 2:]
        ways.append(rest[0].upper() + rest[1:])
    for hedge in _HEDGES:
        hit = re.search(rf"\b{hedge}\b ", text)
        if hit and hit.start() > 0:
            ways.append(text[: hit.start()] + text[hit.end():])
    words = text.split(" ")
    at = subject_end(words)
    if at is not None and at >= 3:
        subject = words[:at]
        tail = next((i for i, w in enumerate(subject) if i >= 2 and w in ("of", "in", "from", "for", "with", "at", "on")), None)
        if tail is not None:
            ways.append(" ".join(subject[:tail] + words[at:]))
        if tail is None and subject[0] in ("The", "A", "An") and len(subject) >= 3:
            ways.append(" ".join([subject[0], subject[-1]] + words[at:]))
    ways = [w for w in ways if w != text and len(w.split()) >= 5 and _drops_meaning(text, w)]
    return rng.choice(ways) if ways else None


def _drops_meaning(text: str, claim: str) -> bool:
    """Whether ``claim`` leaves out a word of ``text`` that means something (not only "of this")."""
    from chains.text import STOPWORDS

    kept = {w.lower().strip(".,;:()") for w in claim.split()}
    return any(w.lower().strip(".,;:()") not in kept and w.lower().strip(".,;:()") not in STOPWORDS - set(_HEDGES)
               for w in text.split())


def stitch(first: str, second: str) -> str | None:
    """The subject (and verb) of ``first`` with the predicate of ``second``: the claim is false when
    ``second`` is about something else (it does not start with "it", "they", ...)."""
    if second.lower().startswith(_CONTINUES) or any(t.split(" ", 1)[0] in _NOT_SUBJECTS for t in (first, second)):
        return None
    a, b = first.split(" "), second.split(" ")
    i, j = subject_end(a), subject_end(b)
    if i is None or j is None:
        return None
    predicate = b[j + 1:]
    said = {w.lower().strip(".,;:") for w in a}
    new = [w for w in predicate if w.lower().strip(".,;:") not in said and len(w.strip(".,;:")) > 3]
    subject_a = {w.lower().strip(".,;:") for w in a[:i] if len(w) > 3}
    subject_b = {w.lower().strip(".,;:") for w in b[:j] if len(w) > 3}
    if len(predicate) < 3 or len(new) < 2 or subject_a & subject_b or not subject_a:
        return None  # too little of the other sentence, or both are about the same thing
    claim = " ".join(a[: i + 1] + predicate)
    return claim if claim not in (first, second) else None
