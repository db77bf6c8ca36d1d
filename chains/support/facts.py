"""What a sentence states, in checkable pieces: numbers with units, names, quantity words, polarity.

Text is cut into :class:`Token`s (words, numbers, ``%``/currency signs, clause punctuation).
Numbers are normalised to their value whether written as digits or words ("ten years",
"10 years", "10-year", "10 yrs" all read as ``10 year``); a number's *unit* is the word
after it (or a currency sign before it). Everything here is pure and deterministic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from chains.text import STOPWORDS

_TOKEN = re.compile(r"\d+(?:[.,]\d+)*(?:st|nd|rd|th|s)?\b|[^\W\d_](?:[^\W_]|['’](?=[^\W\d_]))*|[%$€£]|[;:,()]")

SMALL = {
    w: i for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen".split()
    )
}
TENS = {w: 10 * i for i, w in enumerate("_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()) if w != "_"}
SCALES = {"hundred": 100, "thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000, "trillion": 10**12}
ORDINALS = {
    w: i for i, w in enumerate(
        "_ first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth".split()
    ) if w != "_"
}
#: Unit spellings → one name ("yrs" and "years" are both ``year``).
UNITS = {
    **dict.fromkeys("year years yr yrs annual".split(), "year"),
    **dict.fromkeys("month months mo mos".split(), "month"),
    **dict.fromkeys("week weeks wk wks".split(), "week"),
    **dict.fromkeys("day days".split(), "day"),
    **dict.fromkeys("hour hours hr hrs h".split(), "hour"),
    **dict.fromkeys("minute minutes min mins".split(), "minute"),
    **dict.fromkeys("second seconds sec secs".split(), "second"),
    **dict.fromkeys("percent per_cent pct %".split(), "%"),
    **dict.fromkeys("km kms kilometre kilometres kilometer kilometers".split(), "km"),
    **dict.fromkeys("m metre metres meter meters".split(), "m"),
    **dict.fromkeys("cm centimetre centimetres centimeter centimeters".split(), "cm"),
    **dict.fromkeys("mm millimetre millimetres millimeter millimeters".split(), "mm"),
    **dict.fromkeys("mi mile miles".split(), "mile"),
    **dict.fromkeys("ft foot feet".split(), "ft"),
    **dict.fromkeys("kg kgs kilogram kilograms kilo kilos".split(), "kg"),
    **dict.fromkeys("g gram grams".split(), "g"),
    **dict.fromkeys("lb lbs pound pounds".split(), "lb"),
    **dict.fromkeys("$ usd dollar dollars".split(), "usd"),
    **dict.fromkeys("€ eur euro euros".split(), "eur"),
    **dict.fromkeys("£ gbp sterling".split(), "gbp"),
}
CURRENCY = {"$", "€", "£"}
NEGATIONS = frozenset(
    "not no never none nobody nothing neither nor without cannot unable lack lacks lacked lacking "
    "fail fails failed exclude excludes excluded excluding".split()
)
#: Quantity and hedge words, by what they mean ("every" and "all" are one claim).
QUANTITY = {
    **dict.fromkeys("all every each".split(), "all"), "only": "only", "solely": "only", "exclusively": "only",
    **dict.fromkeys("most majority mostly".split(), "most"), **dict.fromkeys("many numerous".split(), "many"),
    **dict.fromkeys("few fewer".split(), "few"), **dict.fromkeys("some several".split(), "some"),
    "half": "half", "both": "both", **dict.fromkeys("twice double doubled".split(), "x2"),
    **dict.fromkeys("triple tripled thrice".split(), "x3"), **dict.fromkeys("dozen dozens".split(), "dozen"),
    "hundreds": "hundreds", "thousands": "thousands", "millions": "millions", "billions": "billions",
    "always": "always", **dict.fromkeys("often frequently".split(), "often"), "sometimes": "sometimes",
    **dict.fromkeys("usually typically generally normally commonly".split(), "usually"),
    **dict.fromkeys("rarely seldom".split(), "rarely"), **dict.fromkeys("mainly largely primarily chiefly".split(), "mainly"),
    **dict.fromkeys("partly partially".split(), "partly"), **dict.fromkeys("nearly almost approximately roughly".split(), "approx"),
    **dict.fromkeys("may might could possibly perhaps probably likely".split(), "maybe"),
    **dict.fromkeys("least".split(), "least"), **dict.fromkeys("estimated reportedly allegedly".split(), "reportedly"),
}
_ANTONYM_PAIRS = """increase:decrease increased:decreased increases:decreases rise:fall more:less higher:lower
larger:smaller largest:smallest bigger:smaller biggest:smallest longer:shorter longest:shortest
before:after above:below maximum:minimum first:last include:exclude includes:excludes allowed:forbidden
allow:prohibit accept:reject accepted:rejected win:lose won:lost true:false open:closed positive:negative
always:never possible:impossible legal:illegal major:minor north:south east:west early:late earlier:later
earliest:latest gain:loss success:failure succeeded:failed same:different inside:outside internal:external
import:export imported:exported buy:sell bought:sold older:younger oldest:youngest heavier:lighter
strong:weak stronger:weaker upper:lower start:end started:ended enable:disable enabled:disabled
mutable:immutable synchronous:asynchronous public:private required:optional""".split()
ANTONYMS: dict[str, str] = {}
for _pair in _ANTONYM_PAIRS:
    _a, _b = _pair.split(":")
    ANTONYMS[_a], ANTONYMS[_b] = _b, _a
#: A later sentence starting with one of these continues the earlier one's subject.
CONTINUES = frozenset("it its they their them this these those he she his her such which there".split())
#: Words that start a new clause: what comes after is a claim of its own.
CLAUSE_BREAKS = frozenset("; : but whereas while although though however yet".split())
#: Capitalised at a sentence start without being a name.
OPENERS = frozenset(
    "yes no however also although according based overall thus therefore in on generally typically usually "
    "today currently finally first firstly second secondly then later instead meanwhile besides".split()
)


@dataclass(frozen=True)
class Token:
    text: str  # as written
    low: str  # lower case
    stem: str
    index: int  # position in the sentence's token list
    negative: bool = False  # a number written with a minus sign ("-1")


@dataclass(frozen=True)
class Number:
    value: str  # "10", "2.5", "#3" (ordinal), "1990s"
    unit: str | None
    end: int  # index of the number's last token


def stem(word: str) -> str:
    """Plural and tense endings off, so "frames"/"frame", "covered"/"cover", "excluded"/"exclude" meet."""
    if len(word) > 4 and word.endswith("ies"):
        word = word[:-3] + "y"
    elif len(word) > 4 and word.endswith(("sses", "shes", "ches", "xes", "zes")):
        word = word[:-2]
    elif len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    elif len(word) > 5 and word.endswith("ing"):
        word = word[:-3]
    elif len(word) > 4 and word.endswith("ed"):
        word = word[:-2]
    return word[:-1] if len(word) > 4 and word.endswith("e") else word


def tokens(text: str) -> list[Token]:
    out = []
    for match in _TOKEN.finditer(text):
        word = match.group(0)
        low = word.lower().replace("’", "'")
        low = re.sub(r"'s$", "", low)
        at = match.start()
        negative = at > 0 and text[at - 1] in "-−" and (at < 2 or text[at - 2] in " (\t=[,")
        out.append(Token(word, low, stem(low) if low.isalpha() else low, len(out), negative and low[:1].isdigit()))
    return out


def _value(number: float) -> str:
    return str(int(number)) if number == int(number) else f"{number:g}"


def numbers(toks: list[Token]) -> list[Number]:
    """Every number of a token list, as digits or words, with its unit."""
    found: list[Number] = []
    i = 0
    while i < len(toks):
        low = toks[i].low
        if low in ORDINALS and not (i and _is_number_start(toks[i - 1].low)):
            found.append(Number(f"#{ORDINALS[low]}", None, i))
            i += 1
            continue
        if not _is_number_start(low):
            i += 1
            continue
        total, current, j, decade = 0.0, 0.0, i, ""
        while j < len(toks):
            word = toks[j].low
            digits = re.fullmatch(r"(\d+(?:[.,]\d+)*)(st|nd|rd|th|s)?", word)
            if digits:
                if j > i:
                    break
                raw = digits.group(1)
                raw = raw.replace(",", "") if re.fullmatch(r"\d{1,3}(,\d{3})+", raw) else raw.replace(",", ".")
                if digits.group(2) in {"st", "nd", "rd", "th"}:
                    found.append(Number(f"#{_value(float(raw))}", None, j))
                    current = -1.0
                    break
                if digits.group(2) == "s":
                    decade = raw + "s"
                if not re.fullmatch(r"\d+(?:\.\d+)?", raw):
                    decade = raw  # a version or an address ("3.11.2", "192.0.2.1"): kept as written
                    j += 1
                    break
                current += float(raw)
            elif word in SMALL:
                current += SMALL[word]
            elif word in TENS:
                current += TENS[word]
            elif word in SCALES and j > i:
                if SCALES[word] == 100:
                    current *= 100
                else:
                    total, current = total + current * SCALES[word], 0.0
            elif word == "and" and j > i and j + 1 < len(toks) and (toks[j + 1].low in SMALL or toks[j + 1].low in TENS):
                pass
            else:
                break
            j += 1
        if current >= 0:
            value = decade or _value(total + current)
            if toks[i].negative:
                value = "-" + value
            end = j - 1
            unit = _unit(toks, i, end)
            found.append(Number(value, unit, end))
        i = max(j, i + 1)
    return found


def _is_number_start(low: str) -> bool:
    return bool(re.match(r"\d", low)) or low in SMALL or low in TENS


def _unit(toks: list[Token], start: int, end: int) -> str | None:
    if start and toks[start - 1].low in CURRENCY:
        return UNITS[toks[start - 1].low]
    if end + 1 < len(toks):
        nxt = toks[end + 1].low
        if nxt == "per" and end + 2 < len(toks) and toks[end + 2].low == "cent":
            return "%"
        if nxt in UNITS:
            return UNITS[nxt]
        if nxt.isalpha() and nxt not in STOPWORDS:
            return stem(nxt)
    return None


def unit_near(toks: list[Token], number: Number, unit: str) -> bool:
    """Whether ``unit`` is written right before or within three words after ``number``."""
    start = number.end
    while start > 0 and _is_number_start(toks[start - 1].low):
        start -= 1
    if start and toks[start - 1].low in CURRENCY and UNITS[toks[start - 1].low] == unit:
        return True
    for tok in toks[number.end + 1: number.end + 4]:
        if UNITS.get(tok.low, tok.stem) == unit or tok.stem == unit:
            return True
    return False


def names(toks: list[Token], known: set[str] = frozenset()) -> set[str]:  # type: ignore[assignment]
    """Proper names (capitalised words after the first, acronyms), stemmed; a first word only if
    ``known`` (names seen capitalised inside sentences of the passages) has it."""
    found = set()
    words = [t for t in toks if t.low[:1].isalpha()]
    for position, tok in enumerate(words):
        text = tok.text.strip("'’")
        if len(text) < 2 or tok.low in STOPWORDS or tok.low in OPENERS or tok.low in QUANTITY or tok.low in NEGATIONS:
            continue
        acronym = text.isupper() and len(text) >= 2
        capital = text[0].isupper() and not text.isupper() or acronym
        if acronym or (capital and position > 0) or (capital and tok.stem in known):
            found.add(tok.stem)
    return found


def negations(toks: list[Token]) -> int:
    return sum(1 for t in toks if t.low in NEGATIONS or t.low.endswith("n't"))


def quantities(toks: list[Token]) -> set[str]:
    return {QUANTITY[t.low] for t in toks if t.low in QUANTITY}


def content(toks: list[Token]) -> list[Token]:
    """Words that carry meaning (no stop words, punctuation or signs)."""
    return [t for t in toks if (t.low[:1].isalnum()) and t.low not in STOPWORDS]


def clause_start(toks: list[Token], index: int) -> int:
    """The first token of the clause ``index`` is in."""
    for j in range(index - 1, -1, -1):
        if toks[j].low in CLAUSE_BREAKS:
            return j + 1
        if toks[j].low == "," and j + 1 < len(toks) and toks[j + 1].low in {"and", "or", "which", "who", "but"}:
            return j + 1
    return 0


def clause_end(toks: list[Token], index: int) -> int:
    """One past the last token of the clause ``index`` is in."""
    for j in range(index + 1, len(toks)):
        if toks[j].low in CLAUSE_BREAKS:
            return j
        if toks[j].low == "," and j + 1 < len(toks) and toks[j + 1].low in {"and", "or", "which", "who", "but"}:
            return j
    return len(toks)
