"""Does one piece of evidence (a passage sentence, or two adjacent ones) state a claim?

:func:`grade` compares a claim with one candidate and returns a :class:`Grade`:

- every number (with its unit), proper name and date of the claim must be in the evidence;
  one that is not makes the claim **unsupported** (``missing``);
- a negation, or an antonym ("before"/"after", "increase"/"decrease"), on one side only makes
  it **unsupported**;
- a quantity or hedge word ("only", "all", "typically", "may") added or dropped, a subject or
  leading qualifier of the evidence's clause left out ("Females in any wolf population weigh…"
  → "Wolves weigh…"), or a number or name of the clause left out, makes it at most **partial**;
- otherwise the share of the claim's words found in the evidence (``coverage``) decides, with
  the embedding model's opinion asked only in between (see the checker).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from chains.support import facts
from chains.support.facts import Number, Token

SUPPORTED, PARTIAL, UNSUPPORTED = "supported", "partial", "unsupported"
RANK = {SUPPORTED: 2, PARTIAL: 1, UNSUPPORTED: 0}
SUBJECT_ENDS = frozenset(
    "is are was were has have had can could will would should may might must does do did".split()
)


@dataclass
class Facts:
    """A text cut into what can be checked."""

    text: str
    toks: list[Token]
    stems: set[str]
    lows: set[str]
    content: list[Token]
    numbers: list[Number]
    names: set[str]
    quantities: set[str]
    negations: int

    @classmethod
    def of(cls, text: str, known: set[str] = frozenset()) -> "Facts":  # type: ignore[assignment]
        toks = facts.tokens(text)
        return cls(
            text, toks, {t.stem for t in toks}, {t.low for t in toks}, facts.content(toks), facts.numbers(toks),
            facts.names(toks, known), facts.quantities(toks), facts.negations(toks),
        )


@dataclass
class Grade:
    verdict: str
    coverage: float
    missing: tuple[str, ...] = ()
    reasons: list[str] = field(default_factory=list)
    #: Words of the claim's subject that the evidence does not have ("battery" for a motor's line).
    subject: tuple[str, ...] = ()

    @property
    def hard(self) -> bool:
        """Failed a rule no similarity can overrule."""
        return self.verdict == UNSUPPORTED and bool(self.reasons)


def missing_facts(claim: Facts, evidence: Facts) -> list[str]:
    """The claim's numbers (with units) and names the evidence does not state."""
    missing = []
    for number in claim.numbers:
        same = [n for n in evidence.numbers if n.value == number.value]
        if not same:
            missing.append(number.value.lstrip("#"))
        elif number.unit and not any(facts.unit_near(evidence.toks, n, number.unit) for n in same):
            missing.append(f"{number.value.lstrip('#')} {number.unit}")
    number_words = set(facts.SMALL) | set(facts.TENS) | set(facts.SCALES) | set(facts.ORDINALS)
    missing += sorted(n for n in claim.names if n not in evidence.stems and n not in number_words)
    return missing


def coverage(claim: Facts, evidence: Facts, asked: set[str], restated: set[str]) -> float:
    """Weighted share of the claim's content words in the evidence (question words count half);
    a short claim is judged with the words of its question (``asked``)."""
    words = {t.stem for t in claim.content}
    total = hits = 0.0
    for word in words:
        weight = 0.5 if word in restated else 1.0
        total += weight
        hits += weight * (word in evidence.stems)
    share = hits / total if total else 0.0
    if asked:
        share = 0.5 * share + 0.5 * len(asked & evidence.stems) / len(asked)
    return share


def grade(claim: Facts, evidence: Facts, question: set[str], asked: set[str], short: bool,
          question_negations: int | None = None) -> Grade:
    """How far ``evidence`` states ``claim`` (see the module docstring)."""
    cover = coverage(claim, evidence, asked, question & {t.stem for t in claim.content})
    missing = tuple(missing_facts(claim, evidence))
    result = Grade(SUPPORTED, cover, missing)
    if missing:
        result.reasons.append("not in the cited text: " + ", ".join(missing))
    claim_stems = {t.stem for t in claim.content}
    matched = [t.index for t in evidence.content if t.stem in claim_stems]
    if not matched:
        result.verdict = UNSUPPORTED
        return result
    start = facts.clause_start(evidence.toks, matched[0])
    end = facts.clause_end(evidence.toks, matched[-1])
    region = evidence.toks[start:end]
    # A short answer's polarity is its question's and its own ("Is it covered?" "It is not.").
    said = claim.negations or (question_negations or 0 if short else 0)
    if facts.negations(region) % 2 != said % 2:
        result.reasons.append("negation differs from the cited text")
    region_lows = {t.low for t in region}
    flipped = sorted(
        t.low for t in claim.toks
        if t.low in facts.ANTONYMS and t.low not in evidence.lows and facts.ANTONYMS[t.low] in region_lows
    )
    if flipped:
        result.reasons.append("the cited text says the opposite: " + ", ".join(f"{w}/{facts.ANTONYMS[w]}" for w in flipped))
    if result.reasons:
        result.verdict = UNSUPPORTED
        return result
    partial = []
    added = claim.quantities - evidence.quantities
    said = Counter(facts.QUANTITY[t.low] for t in claim.toks if t.low in facts.QUANTITY)
    dropped = {q for q, n in Counter(facts.QUANTITY[t.low] for t in region if t.low in facts.QUANTITY).items() if n > said[q]}
    if added:
        partial.append("adds " + ", ".join(sorted({t.low for t in claim.toks if facts.QUANTITY.get(t.low) in added})))
    if dropped and not short:
        partial.append("leaves out " + ", ".join(sorted({t.low for t in region if facts.QUANTITY.get(t.low) in dropped})))
    if short:  # "10 years." — its question says what it is about
        result.verdict = PARTIAL if partial else SUPPORTED
        result.reasons += partial
        return result
    # The evidence clause's subject or leading qualifier, left out of the claim (a list member
    # left out is not: "aluminium frames" of "the aluminium and steel frames" is stated).
    subject = subject_end(evidence.toks, start)
    lead = [t for t in evidence.toks[start:max(matched[0], subject)] if t.low[:1].isalnum()
            and t.low not in facts.STOPWORDS and t.stem not in claim_stems and t.low not in facts.QUANTITY
            and not _listed(evidence.toks, t.index, claim_stems)]
    if lead:
        partial.append("leaves out the cited subject or qualifier: " + " ".join(t.text for t in lead))
    first_claim = next((t.index for t in claim.content if t.stem in evidence.stems), None)
    extra = [t for t in claim.content if first_claim is not None and t.index < first_claim]
    if extra:
        partial.append("a subject the cited text does not have: " + " ".join(t.text for t in extra))
        result.subject = tuple(t.low for t in extra)
    unsaid = sorted({t.text for t in claim.content
                     if t.stem not in evidence.stems and not t.low[:1].isdigit() and t.low not in facts.UNITS})
    if unsaid and len(unsaid) >= 0.25 * len(claim_stems):
        partial.append("says more than the cited text: " + ", ".join(unsaid))
    inner = evidence_facts_between(evidence, matched[0], matched[-1], claim.stems)
    said = claim.stems | {n.value.lstrip("#") for n in claim.numbers}
    lost = sorted(x for x in inner if x not in said and x not in question)
    if lost:
        partial.append("leaves out " + ", ".join(lost))
    if partial:
        result.verdict = PARTIAL
        result.reasons += partial
    return result


def subject_end(toks: list[Token], start: int) -> int:
    """Where the subject of the clause starting at ``start`` ends: its first auxiliary verb within
    ten tokens (``start`` when there is none)."""
    for tok in toks[start: start + 10]:
        if tok.low in SUBJECT_ENDS:
            return tok.index
        if tok.low in {",", ";", ":", "where", "that", "which", "who", "when"}:
            break
    return start


def _listed(toks: list[Token], index: int, kept: set[str]) -> bool:
    """Whether the token is one member of a list whose other member the claim kept
    ("aluminium" of "aluminium and steel frames": steel left out, aluminium stated)."""
    def low(j: int) -> str:
        return toks[j].low if 0 <= j < len(toks) else ""

    for step in (-1, 1):
        if low(index + step) in {"and", "or"} and 0 <= index + 2 * step < len(toks) and toks[index + 2 * step].stem in kept:
            return True
    return low(index - 1) == "," and low(index + 1) in {",", "and", "or"}


def evidence_facts_between(evidence: Facts, first: int, last: int, kept: set[str]) -> set[str]:
    """Names and numbers of ``evidence`` between two token positions; a name next to a name the
    claim kept is part of it ("Northwind e-Commuter" → "e-Commuter" keeps the product)."""
    found = {n.value.lstrip("#") for n in evidence.numbers if first <= n.end <= last and not n.value.startswith("#")}
    toks = evidence.toks
    for t in toks[first: last + 1]:
        if t.stem in evidence.names:
            near = toks[max(0, t.index - 2): t.index + 3]
            if not any(o.stem in kept and o.stem in evidence.names for o in near if o is not t):
                found.add(t.stem)
    return found
