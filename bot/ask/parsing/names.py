"""Catalog names that are also words the parser reads: which reading wins.

A service, route word or alias may be spelled like a measure ("pricing", "billing", "cost",
"traffic", "errors", "latency") or like a word the parser skips ("status", "health"). Read as
the parser's word, a question about it would be answered for all endpoints. The rule, for
each such word that names something in the catalog on its own (not corrected, not a guess):

1. followed by "service", "svc", "endpoint", "route" or "api" ("the pricing service"), or
   asked about as in "how is pricing doing", it is the subject;
2. a measure word is the subject when the rest of the question still says what to measure
   (another measure, a percentile, "slower", SLO words): "pricing p95 vs last week", "is
   pricing slower than last week", "cost of pricing", "pricing error rate today"; so is the
   one such word of "is pricing unusual", "is anything broken in pricing" when nothing else
   is named (not "is search traffic normal"). When two
   such words are left with no other measure, the one before "of"/"for" ("latency of
   traffic"), else the last ("traffic latency"), is the measure;
3. a measure word that is the only measure stays the measure, and the reading is said, with
   how to name the subject instead: "cost last week" with a service ``cost`` is the cost of
   all endpoints ("say 'the cost service' for the service");
4. a word the parser otherwise skips is the subject unless the question names another
   subject: "p95 of status" is the status service, "status of checkout" is checkout.

Catalog names still go through ``subjects`` like any other (this module only keeps the
phrases from taking them): only catalog keys and service names reach the ``Query``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from bot.ask.parsing.phrases import PHRASES, Draft, read_alone
from bot.ask.parsing.subjects import Found, Names, accept, find_subjects
from bot.ask.parsing.vocabulary import BREAKERS, FILLER, METHODS, STOPWORDS, Lexicon
from bot.ask.query import Measure
from bot.catalog import Resolution

_WORD = re.compile(r"(?<![\w/{}.%-])[a-z][a-z0-9_-]*[a-z0-9](?![\w/{}%])")
_MARKERS = frozenset({"service", "svc", "endpoint", "route", "api"})
_OF = re.compile(r"\s*(?:of|for|on|in)\b")
_HOW = re.compile(r"\bhow(?:s| is| are|'s)? (?:the )?$")
_DOING = re.compile(r"\s*(?:doing|going|looking|performing|holding up)\b")


@dataclass(frozen=True)
class Claim:
    """A catalog name at ``text[start:end]`` that the parser's phrases would also read."""

    start: int
    end: int
    word: str
    resolution: Resolution
    measure: bool  # a measure word (rule 2/3), else a skipped word (rule 4)
    marked: bool  # followed by "service" and the like (rule 1)
    before_of: bool  # "cost of ...": the measure when one has to be


ReadPhrases = Callable[[str, Draft], str]


def claim_names(
    rest: str, names: Names, lexicon: Lexicon, draft: Draft, read: ReadPhrases
) -> tuple[list[Claim], list[str]]:
    """The clashing catalog names read as subjects, and notes for those read as measures."""
    claims = _candidates(rest, names, lexicon)
    if not claims:
        return [], []
    kept = [c for c in claims if c.marked or not c.measure]
    measures = [c for c in claims if c.measure and not c.marked]
    if measures:
        trial = copy.deepcopy(draft)
        read(_blank(rest, claims), trial)
        asked = {m for _, m in trial.measures} | ({Measure.LATENCY} if trial.percentile else set())
        if (len(measures) == 1 and not _asks_a_measure(trial) and (trial.usual or trial.broken)
                and not _names_another(rest, claims, names, trial)):
            pass  # "is anything broken in pricing", "is pricing unusual": about pricing
        elif not _asks_a_measure(trial):
            # Rule 2/3: one of them must say what to measure.
            measure = next((c for c in measures if c.before_of), measures[-1])
            measures.remove(measure)
        elif same := [c for c in measures if c.before_of and _measure_of(c.word) in asked]:
            measures.remove(same[0])  # "cost of billing per day": the same measure, twice
        kept += measures
    # Rule 4: a skipped word names the subject only when nothing else does.
    skipped = [c for c in kept if not c.measure and not c.marked]
    if skipped:
        trial = copy.deepcopy(draft)
        others = read(_blank(rest, kept), trial)
        found, _ = find_subjects(others, names, trial)
        if found.endpoints or found.services or any(c.measure or c.marked for c in kept):
            kept = [c for c in kept if c not in skipped]
    notes = [
        f"'{c.word}' read as the {_measure_word(c.word)} measure, not {_named(c.resolution)} "
        f"(for that, name a measure: 'p95 of {c.word}')"
        for c in claims if c.measure and c not in kept
    ]
    return sorted(kept, key=lambda c: c.start), notes


def take_claims(rest: str, claims: list[Claim]) -> str:
    """``rest`` without the claimed names, so that the phrases cannot read them."""
    return _blank(rest, claims)


def add_claims(claims: list[Claim], found: Found, draft: Draft) -> None:
    for claim in claims:
        accept(claim.word, claim.resolution, found, draft)


def _candidates(rest: str, names: Names, lexicon: Lexicon) -> list[Claim]:
    clashing = _clashing(lexicon)
    claims: list[Claim] = []
    for match in _WORD.finditer(rest):
        word = match[0]
        if word not in clashing or _in_longer_phrase(rest, match.start(), match.end()):
            continue  # "error" in "error rate" is the phrase's, not a name
        resolution = names.resolve(word)
        if resolution.status not in ("exact", "service", "alias") and not resolution.shared_key:
            continue
        after = rest[match.end():].split(None, 1)
        claims.append(Claim(
            start=match.start(), end=match.end(), word=word, resolution=resolution,
            measure=clashing[word],
            marked=(bool(after) and after[0] in _MARKERS) or _overview(rest, match),
            before_of=bool(_OF.match(rest, match.end())),
        ))
    return claims


def _overview(rest: str, match: re.Match[str]) -> bool:
    """"how is pricing doing": the overview of what is named."""
    return bool(_HOW.search(rest, 0, match.start()) and _DOING.match(rest, match.end()))


def _in_longer_phrase(rest: str, start: int, end: int) -> bool:
    for pattern, _ in PHRASES:
        for match in pattern.finditer(rest, max(0, start - 40), min(len(rest), end + 40)):
            longer = match.end() - match.start() > end - start
            if longer and match.start() <= start and end <= match.end():
                return True
    return False


def _clashing(lexicon: Lexicon) -> dict[str, bool]:
    """The catalog's words that the parser also reads: True for a measure word."""
    return _clashing_words(frozenset(lexicon.names_words))


@lru_cache(maxsize=64)
def _clashing_words(words: frozenset[str]) -> dict[str, bool]:
    found: dict[str, bool] = {}
    for word in words:
        if len(word) < 3 or word in FILLER or word in METHODS or word in BREAKERS:
            continue
        if _is_measure_word(word):
            found[word] = True
        elif word in STOPWORDS:
            found[word] = False
    return found


def _is_measure_word(word: str) -> bool:
    measure, slo = read_alone(word)
    return measure is not None or slo


def _names_another(rest: str, claims: list[Claim], names: Names, trial: Draft) -> bool:
    """Whether the words left, the claims aside, name a subject of their own."""
    others = _blank(rest, claims)
    for pattern, _ in PHRASES:
        others = _blank_matches(others, pattern)
    found, _ = find_subjects(others, names, copy.deepcopy(trial))
    return bool(found.endpoints or found.services)


def _blank_matches(text: str, pattern: re.Pattern[str]) -> str:
    return pattern.sub(lambda m: ";" + " " * (len(m[0]) - 1), text)


def _asks_a_measure(draft: Draft) -> bool:
    return bool(draft.measures) or draft.percentile or draft.slo


def _measure_of(word: str) -> Measure | None:
    return read_alone(word)[0]


def _measure_word(word: str) -> str:
    measure = _measure_of(word)
    return measure.value.replace("_", " ") if measure is not None else "SLO"


def _named(resolution: Resolution) -> str:
    if resolution.service:
        return f"the {resolution.service} service"
    return ", ".join(entry.key for entry in resolution.matches[:3])


def _blank(text: str, claims: list[Claim]) -> str:
    for claim in claims:
        text = text[:claim.start] + ";" + " " * (claim.end - claim.start - 1) + text[claim.end:]
    return text
