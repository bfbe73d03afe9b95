"""The parser's own words: stopwords and filler that carry no subject, and spelling correction.

A near miss is corrected towards a word of the catalog's names first ("ordr" → "order"), then
towards ``VOCABULARY`` ("latnecy" → "latency"), never away from a word the phrases or time
patterns know.
"""

from __future__ import annotations

import difflib
import re
import weakref
from dataclasses import dataclass, field
from functools import lru_cache

from bot.ask.parsing import timeexpr
from bot.ask.parsing.phrases import PHRASES, read_alone
from bot.catalog import Catalog, Resolution

SPELL_CUTOFF = 0.8  # difflib ratio: "latnecy", "erors", "thruput" pass; "later" does not
MIN_SPELL = 4  # shorter words are left alone: too many neighbours


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words that carry no subject: dropped, and they split names ("latency of checkout for web").
STOPWORDS = _words(
    """
    a about above across after again all also am an and any anything anyone are around as
    ask at be been being below between both but by can could currently data day did do does
    doing done each either even ever every everything far few figure figures for from get
    give gimme go going got had has have having hello hey hi how i if in into is it its
    just kind know let lets like look looking looks lot many me mine my much need now of
    off ok okay on once only or our ours out over please pls plz quick quickly rate really
    right see seem seems show so some something sort stats status statistics summary tell
    than thanks thank thx that the their them then there these they thing things this those
    to too up us very vs want was we were what whats when where whether which while who
    whom why will with would yo you your yours perfbot bot health healthy overview doing
    report dashboard numbers metrics metric currently how's hows going look doing is are
    been should shall may might must per value values level levels same meeting meet met
    left remaining within missing its doing currently today's anyone endpoint's guys team
    currently lately recently recent overall whole entire take takes taking took ratio
    percentage percent share count amount number prone does doing before after since until
    till fix fixed hotfix release rollout deployment deploy patch incident outage more less
    fewer ms millisecond milliseconds seconds secs units unit
    """
)
FILLER = frozenset({"service", "svc", "endpoint", "endpoints", "route", "routes", "api", "apis"})
METHODS = frozenset({"get", "post", "put", "patch", "delete", "head", "options"})
BREAKERS = frozenset({",", "and", "or", "&", "plus", "vs", "versus", "nor"})

# Words the spelling corrector may turn a near miss into.
VOCABULARY = _words(
    """
    latency latencies response duration slow slower slowest fast faster fastest speed
    error errors failures failing failed errored throughput traffic requests request calls
    cost costs costing expensive cheapest cheaper spend spending price money billing
    memory cpu percentile median average maximum peak projected projection forecast monthly
    daily yesterday today week weeks month months hour hours minutes days last past since
    between compared compare comparison versus before after budget objective top worst
    best busiest quietest highest lowest biggest largest slowest regressed regression
    degraded improved increased decreased monday tuesday wednesday thursday friday saturday
    sunday january february march april june july august september october november
    december morning afternoon evening weekend help availability thousand breaching
    worse better change changed changes jumped spiked dropped drops increase decrease
    increased decreased usage load busy volume calls hits rps qps ago hours minutes
    seconds second total count number compare than against until ratio percentage
    success uptime failure broken flaky timings timing durations budget compliance
    ranking rank leaderboard list services service endpoint endpoints route routes
    hourly weekly time times mean least most used drop table
    """
)


# Shorthands people type, expanded unless the catalog uses the word (a service "hr").
SHORTHANDS = {
    "yday": "yesterday", "yest": "yesterday", "ystd": "yesterday", "ytday": "yesterday",
    "tdy": "today", "wk": "week", "wks": "weeks", "hr": "hour", "hrs": "hours",
    "mins": "minutes",
}  # fmt: skip


@dataclass
class Lexicon:
    """Per catalog: the words its names use, and memoised spelling corrections."""

    words: frozenset[str]
    candidates: list[str]
    names_words: list[str] = field(default_factory=list)  # every word of the catalog's names
    memo: dict[str, str | None] = field(default_factory=dict)
    names: dict[str, Resolution] = field(default_factory=dict)

    def resolve(self, catalog: Catalog, phrase: str) -> Resolution:
        """``catalog.resolve``, remembered: a catalog does not change once built.

        (The catalog is passed in, not kept: a lexicon must not keep its catalog alive.)
        """
        found = self.names.get(phrase)
        if found is None:
            if len(self.names) > 10_000:
                self.names.clear()
            found = self.names[phrase] = catalog.resolve(phrase)
        return found

    def correct(self, word: str) -> str | None:
        """What ``word`` is a near miss of: the catalog's words first, then the vocabulary.

        A near miss of a catalog word is left to the catalog (which says "read 'chekout' as
        POST /api/checkout"), unless it is as near a vocabulary word: then it is corrected
        to the catalog's word here, so the vocabulary cannot take it ("ruote" is the route
        word "quote", not "route"; read as a filler word it would widen the question to all
        endpoints)."""
        if word in self.memo:
            return self.memo[word]
        named = difflib.get_close_matches(word, self.names_words, n=1, cutoff=SPELL_CUTOFF)
        close = difflib.get_close_matches(word, self.candidates, n=1, cutoff=SPELL_CUTOFF)
        vocabulary = close[0] if close and close[0] in VOCABULARY else None
        if named and named[0] in VOCABULARY:
            fixed: str | None = named[0]  # "bilings" → "billing", a name and a word alike
        elif named:
            fixed = named[0] if vocabulary else None
        else:
            fixed = vocabulary
        if len(self.memo) > 10_000:
            self.memo.clear()
        self.memo[word] = fixed
        return fixed


_LEXICONS: weakref.WeakKeyDictionary[Catalog, Lexicon] = weakref.WeakKeyDictionary()


def lexicon_for(catalog: Catalog) -> Lexicon:
    """The catalog's lexicon, built once per catalog."""
    found = _LEXICONS.get(catalog)
    if found is None:
        words: set[str] = set()
        for entry in catalog.entries:
            for text in (entry.endpoint.route, entry.service, *entry.aliases):
                for word in re.findall(r"[a-z0-9]+", text.casefold()):
                    words.add(word)
                    words.add(word.removesuffix("s"))
        catalog_words = frozenset(words - VOCABULARY)
        found = Lexicon(catalog_words, sorted(VOCABULARY | catalog_words), sorted(words))
        _LEXICONS[catalog] = found
    return found


def spell(text: str, lexicon: Lexicon, notes: list[str], renamed: list[str] | None = None
          ) -> str:
    """``text`` with near-miss words corrected; each correction is noted in ``notes``, and
    in ``renamed`` too when it made the word a catalog name's."""
    def fix(match: re.Match[str]) -> str:
        word = match[0]
        if word in SHORTHANDS and word not in lexicon.words:
            return SHORTHANDS[word]
        if (
            len(word) < MIN_SPELL
            or word in _protected()
            or word in lexicon.words
            or word.removesuffix("s") in lexicon.words
        ):
            return word
        fixed = lexicon.correct(word)
        if fixed is None:
            return word
        if _SUBJECT_SLOT.search(text, 0, match.start()) and read_alone(fixed)[0] is not None:
            # "p95 of coast": a name the catalog lacks, not a cost question for all endpoints
            return word
        notes.append(f"read '{word}' as '{fixed}'")
        if renamed is not None and fixed in lexicon.names_words:
            renamed.append(f"read '{word}' as '{fixed}'")
        return fixed

    return re.sub(r"(?<![\w/{])[a-z]+(?![\w/}])", fix, text)


# Where a question names its subject ("p95 of …", "latency for …"), but not "number of …".
_SUBJECT_SLOT = re.compile(
    r"(?<!number )(?<!count )(?<!share )(?<!percentage )(?<!percent )(?<!rate )(?<!ratio )"
    r"(?<!amount )(?<!total )\b(?:of|for|on|about) $")


@lru_cache(maxsize=1)
def _protected() -> frozenset[str]:
    """Words the corrector leaves alone: every word the phrases and time patterns use."""
    sources = [pattern.pattern for pattern, _ in PHRASES]
    sources += [pattern.pattern for pattern, _ in timeexpr.PATTERNS]
    words = {word for source in sources for word in re.findall(r"[a-z]{3,}", source)}
    return frozenset(words) | VOCABULARY | STOPWORDS
