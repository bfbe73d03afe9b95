"""Question text → ``Query``: deterministic, no network, and never raises.

Steps, each a pure function of the text and the catalog:

1. ``normalise``: Slack markup (mentions, channels, links, ``*bold*``, ``_italic_``, code,
   ``~struck-out~`` text, which is dropped as retracted), entities, emoji, control characters,
   smart quotes and case are flattened into plain lowercase ASCII; only the first
   ``MAX_TEXT`` characters are read.
2. Near-miss words are corrected against the parser's vocabulary ("latnecy" → "latency"),
   never towards a word the catalog knows (those are the catalog's to match).
3. Time expressions are read (``bot.ask.timeexpr``) and removed.
4. Phrases are read and removed: the measure ("p95", "error rate", "how many 5xx", "cost per
   1k requests"), ranking ("top 5", "slowest"), change ("got slower"), comparison ("vs",
   "before and after"), SLO words, and actions the bot does not take ("deploy", SQL).
5. What is left, split at connectors and filler words, is looked up in the catalog, piece by
   piece; only catalog keys and service names ever reach the ``Query``'s subjects.

Defaults, chosen to match what people expect:

* window: the last 24h for latency, errors, traffic, CPU and memory ("right now" = the last
  15 minutes); for cost, this month so far when a total is asked, else the last 7 days (a per
  day, per 1k requests or projected figure wants a full week of traffic); for SLOs, the last
  30 days (the usual rolling SLO period);
* statistic: p95 for latency; none for other measures unless named (avg, max, "peak");
* ranking: 5 rows (at most 50), worst first; "worst" means highest values first for every
  measure (slowest, most errors, most expensive, busiest); "got slower" ranks the change
  against a comparison window, by default the same span just before;
* comparisons: "vs last week" / "since last week" = the same span shifted back 7 days,
  "compared to yesterday" = shifted 1 day, "vs last month" = 1 calendar month; "before and after
  <moment>" = equal spans either side of it (as long as has passed since, at most 24h), with
  ``window`` the "after" and ``comparison`` the "before"; with no reference, the span before;
* a change question without a measure ("which endpoints regressed?") is about latency;
* no subject means every endpoint; a subject without a measure ("how is checkout doing?")
  asks for an overview (``measure`` None).

Anything not understood goes to ``not_understood``. The intent is ``help`` (never a guess)
when words name no endpoint, service, measure or time the parser knows ("p95 of checkout for
the mobile app": answering for all of checkout would answer another question), when a time
cannot be used (in the future, no such date), when the text asks for an action ("deploy",
SQL, shell), or when nothing asks for a figure. Stray query syntax (braces, digits) next to a
known subject is reported but does not stop the answer.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from bot.ask import timeexpr
from bot.ask.query import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    ComparisonKind,
    CostUnit,
    Direction,
    GroupBy,
    Intent,
    Measure,
    Query,
    RankBy,
    Statistic,
    Subjects,
)
from bot.ask.timeexpr import TimeHit, TimeRange
from bot.catalog import Catalog, Resolution

MAX_TEXT = 500  # characters of meaningful text read; the rest is ignored (and said so)
MAX_RAW = 20_000  # characters of raw input looked at, before any markup is removed
MAX_RUN = 6  # words looked up in the catalog as one name
MAX_PIECES = 20  # catalog look-ups per question: text beyond that is noise, not names
SPELL_CUTOFF = 0.8  # difflib ratio: "latnecy", "erors", "thruput" pass; "later" does not
MIN_SPELL = 4  # shorter words are left alone: too many neighbours
SLO_WINDOW = timedelta(days=30)
DEFAULT_SPAN = timedelta(hours=24)
COST_SPAN = timedelta(days=7)

# --- normalisation --------------------------------------------------------------------------

_MENTION = re.compile(r"<[@!][^<>]{0,200}>")  # <@U123>, <@U123|name>, <!here>
_CHANNEL = re.compile(r"<#[^<>]{0,200}>")
_LINK = re.compile(r"<((?:https?|mailto|ftp):[^<>|]{0,2000})(?:\|([^<>]{0,500}))?>")
_STRUCK = re.compile(r"(?<![\w~])~[^~\n]{1,200}~(?![\w~])")
_CODE_FENCE = re.compile(r"```")
_SHORTCODE = re.compile(r":[a-z0-9_+'-]*[a-z][a-z0-9_+'-]*:", re.IGNORECASE)
_POSSESSIVE = re.compile(r"'s\b")
_EDGE_UNDERSCORE = re.compile(r"(?<![a-z0-9])_+|_+(?![a-z0-9])")
_LONE_DOT = re.compile(r"(?<!\d)\.|\.(?!\d)")
_DISALLOWED = re.compile(r"[^a-z0-9 /{}:.,%$&_-]")
_SPACE_BEFORE_COMMA = re.compile(r"\s*,+\s*")
_SPACES = re.compile(r"\s+")
_ASCII_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TRANSLATE = str.maketrans({
    "‘": "'", "’": "'", "‚": "'", "‛": "'", "′": "'",
    "“": " ", "”": " ", "„": " ", "«": " ", "»": " ", '"': " ", "`": " ", "*": " ",
    "–": "-", "—": "-", "−": "-", "‐": "-", "‑": "-",
    "€": "$",  # currency only marks a cost question; one symbol is enough
    "?": " ", "!": " ", ";": ",", "(": " ", ")": " ", "[": " ", "]": " ", "|": " ",
    "<": " ", ">": " ", "=": " ", "~": " ", "^": " ", "\\": " ", "#": " ", "@": " ",
    "+": " ",
})  # fmt: skip


def normalise(text: str) -> str:
    """Slack message text → lowercase ASCII words, paths, times and a few symbols."""
    text = text[:MAX_RAW]
    text = _MENTION.sub(" ", text)
    text = _CHANNEL.sub(" ", text)
    text = _LINK.sub(_link_text, text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    text = _CODE_FENCE.sub(" ", text)
    text = _STRUCK.sub(" ", text)  # struck-out words were taken back by the asker
    text = _SHORTCODE.sub(" ", text)
    text = _SPACES.sub(" ", text)[: 8 * MAX_TEXT]  # plenty: at most MAX_TEXT are read
    if text.isascii():
        text = _ASCII_CONTROL.sub(" ", text)
    else:
        text = unicodedata.normalize("NFKD", text)
        text = "".join(_plain_char(ch) for ch in text)
    text = text.casefold()
    text = text.translate(_TRANSLATE)
    text = _POSSESSIVE.sub("", text).replace("'", " ")
    text = _EDGE_UNDERSCORE.sub(" ", text)
    text = _LONE_DOT.sub(" ", text)  # keep decimals ("p99.9"), drop sentence dots
    text = _DISALLOWED.sub(" ", text)
    text = _SPACE_BEFORE_COMMA.sub(", ", text)
    return _SPACES.sub(" ", text).strip(" ,.:-")


def _link_text(match: re.Match[str]) -> str:
    label = match[2]
    if label:
        return f" {label} "
    path = urlsplit(match[1]).path if match[1].startswith("http") else ""
    return f" {path} " if path not in ("", "/") else " "


def _plain_char(ch: str) -> str:
    if ch.isascii():
        return ch if ch.isprintable() else " "
    category = unicodedata.category(ch)
    if category == "Mn":  # accents split off by NFKD, variation selectors
        return ""
    if ch in "‘’‚‛′“”„«»–—−‐‑€":
        return ch
    return " "  # emoji, symbols, controls, other scripts


# --- vocabulary -----------------------------------------------------------------------------

_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20,
    "dozen": 12, "a dozen": 12,
}  # fmt: skip
_NUM = r"(?:\d{1,6}|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|(?:a )?dozen)"  # noqa: E501

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
_FILLER = frozenset({"service", "svc", "endpoint", "endpoints", "route", "routes", "api", "apis"})
_METHODS = frozenset({"get", "post", "put", "patch", "delete", "head", "options"})
_BREAKERS = frozenset({",", "and", "or", "&", "plus", "vs", "versus", "nor"})

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


@dataclass
class _Lexicon:
    """Per catalog: the words its names use, and memoised spelling corrections."""

    words: frozenset[str]
    candidates: list[str]
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
        """The vocabulary word ``word`` is a near miss of, unless a catalog word is nearer."""
        if word in self.memo:
            return self.memo[word]
        close = difflib.get_close_matches(word, self.candidates, n=1, cutoff=SPELL_CUTOFF)
        fixed = close[0] if close and close[0] in VOCABULARY else None
        if len(self.memo) > 10_000:
            self.memo.clear()
        self.memo[word] = fixed
        return fixed


_LEXICONS: weakref.WeakKeyDictionary[Catalog, _Lexicon] = weakref.WeakKeyDictionary()


def _lexicon(catalog: Catalog) -> _Lexicon:
    found = _LEXICONS.get(catalog)
    if found is None:
        words: set[str] = set()
        for entry in catalog.entries:
            for text in (entry.endpoint.route, entry.service, *entry.aliases):
                for word in re.findall(r"[a-z0-9]+", text.casefold()):
                    words.add(word)
                    words.add(word.removesuffix("s"))
        catalog_words = frozenset(words - VOCABULARY)
        found = _Lexicon(catalog_words, sorted(VOCABULARY | catalog_words))
        _LEXICONS[catalog] = found
    return found


def _spell(text: str, lexicon: _Lexicon, notes: list[str]) -> str:
    def fix(match: re.Match[str]) -> str:
        word = match[0]
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
        notes.append(f"read '{word}' as '{fixed}'")
        return fixed

    return re.sub(r"(?<![\w/{])[a-z]+(?![\w/}])", fix, text)


# --- phrases --------------------------------------------------------------------------------


@dataclass
class _Draft:
    """What the phrases said, filled in while the text is read."""

    measures: list[tuple[int, Measure]] = field(default_factory=list)
    statistic: Statistic | None = None
    percentile: bool = False
    cost_unit: CostUnit | None = None
    rank: bool = False
    limit: int | None = None
    direction: Direction | None = None
    superlative: str | None = None
    change: Direction | None = None
    compare: bool = False
    compare_shift: timedelta | None = None
    compare_months: int = 0
    before_after: bool = False
    asks_better: bool = False  # "did the fix help?": a yes/no on an improvement
    slo: bool = False
    help: bool = False
    group_by_service: bool = False
    refused: list[str] = field(default_factory=list)
    understood: list[str] = field(default_factory=list)
    not_understood: list[str] = field(default_factory=list)

    def measure_at(self, pos: int, measure: Measure) -> None:
        self.measures.append((pos, measure))


_Action = Callable[[re.Match[str], _Draft], None]


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w/{{}}$])(?:{pattern})(?![\w/{{}}])")


def _measure(measure: Measure) -> _Action:
    def act(match: re.Match[str], draft: _Draft) -> None:
        draft.measure_at(match.start(), measure)

    return act


def _cost_unit(unit: CostUnit) -> _Action:
    def act(match: re.Match[str], draft: _Draft) -> None:
        draft.cost_unit = draft.cost_unit or unit
        draft.measure_at(match.start(), Measure.COST)

    return act


def _statistic(match: re.Match[str], draft: _Draft) -> None:
    word = match[0]
    number = re.search(r"\d+(?:\.\d+)?", word)
    if number:
        name = f"p{number[0]}"
        try:
            stat = Statistic(name)
        except ValueError:
            offered = ", ".join(s.value for s in Statistic)
            draft.refused.append(f"{name} is not offered: I can show {offered}")
            return
    elif word.startswith(("median",)):
        stat = Statistic.P50
    elif word.startswith(("avg", "average", "mean")):
        stat = Statistic.AVG
    elif word.startswith("tail"):
        stat = Statistic.P99
        draft.measure_at(match.start(), Measure.LATENCY)
    else:
        stat = Statistic.MAX
    if draft.statistic is None:
        draft.statistic = stat
    elif draft.statistic is not stat:
        draft.not_understood.append(
            f"one statistic at a time: {draft.statistic.value}, not {stat.value}"
        )
    if stat.quantile is not None:
        draft.percentile = True  # a percentile is a latency figure unless a measure says else


_SUPERLATIVES: dict[str, tuple[Direction, Measure | None]] = {
    "slowest": (Direction.WORST, Measure.LATENCY),
    "fastest": (Direction.BEST, Measure.LATENCY),
    "quickest": (Direction.BEST, Measure.LATENCY),
    "busiest": (Direction.WORST, Measure.THROUGHPUT),
    "quietest": (Direction.BEST, Measure.THROUGHPUT),
    "least used": (Direction.BEST, Measure.THROUGHPUT),
    "most used": (Direction.WORST, Measure.THROUGHPUT),
    "most popular": (Direction.WORST, Measure.THROUGHPUT),
    "cheapest": (Direction.BEST, Measure.COST),
    "most expensive": (Direction.WORST, Measure.COST),
    "priciest": (Direction.WORST, Measure.COST),
    "most costly": (Direction.WORST, Measure.COST),
    "costliest": (Direction.WORST, Measure.COST),
    "least expensive": (Direction.BEST, Measure.COST),
    "least costly": (Direction.BEST, Measure.COST),
    "flakiest": (Direction.WORST, Measure.ERROR_RATIO),
    "most reliable": (Direction.BEST, Measure.ERROR_RATIO),
    "least reliable": (Direction.WORST, Measure.ERROR_RATIO),
    "worst": (Direction.WORST, None),
    "best": (Direction.BEST, None),
    "most": (Direction.WORST, None),
    "least": (Direction.BEST, None),
    "highest": (Direction.WORST, None),
    "lowest": (Direction.BEST, None),
    "biggest": (Direction.WORST, None),
    "largest": (Direction.WORST, None),
    "greatest": (Direction.WORST, None),
    "heaviest": (Direction.WORST, None),
    "fewest": (Direction.BEST, None),
    "smallest": (Direction.BEST, None),
}
_SUPERLATIVE = "|".join(sorted((re.escape(k) for k in _SUPERLATIVES), key=len, reverse=True))


def _number(text: str | None) -> int | None:
    if not text:
        return None
    text = text.strip()
    return int(text) if text.isdigit() else _NUMBER_WORDS.get(text)


def _superlative(match: re.Match[str], draft: _Draft) -> None:
    word = _SPACES.sub(" ", match["word"])
    direction, measure = _SUPERLATIVES[word]
    draft.direction = draft.direction or direction
    draft.superlative = draft.superlative or word
    if measure is not None:
        draft.measure_at(match.start(), measure)
    count = _number(match["n"])
    if count is not None:
        draft.limit = draft.limit or count
        draft.rank = True


def _most_count(match: re.Match[str], draft: _Draft) -> None:
    """"the most errors" is a count of errors, not a share of them."""
    draft.direction = draft.direction or _SUPERLATIVES[match["word"]][0]
    draft.superlative = draft.superlative or match["word"]
    what = match["what"]
    traffic = re.fullmatch(_REQUESTS, what) or what == "traffic"
    draft.measure_at(match.start(), Measure.REQUEST_COUNT if traffic else Measure.ERROR_COUNT)


def _top(match: re.Match[str], draft: _Draft) -> None:
    draft.rank = True
    if match[0].startswith("bottom"):
        draft.direction = draft.direction or Direction.BEST
    count = _number(match["n"] or match["n2"])
    if count is not None:
        draft.limit = draft.limit or count


def _rank_word(match: re.Match[str], draft: _Draft) -> None:
    draft.rank = True


def _change(match: re.Match[str], draft: _Draft) -> None:
    text = match[0]
    better = re.search(
        r"\b(?:faster|better|down|improv\w*|decreas\w*|drop\w*|sped|recover\w*|fell)\b", text
    )
    draft.change = draft.change or (Direction.BEST if better else Direction.WORST)
    if re.search(r"slow|fast|sped|lag", text):
        draft.measure_at(match.start(), Measure.LATENCY)


def _compare(match: re.Match[str], draft: _Draft) -> None:
    draft.compare = True
    text = match[0]
    if "week" in text or text == "wow":
        draft.compare_shift = timedelta(days=7)
    elif "day" in text or text == "dod":
        draft.compare_shift = timedelta(days=1)
    elif "month" in text or text == "mom":
        draft.compare_months = 1


def _before_after(match: re.Match[str], draft: _Draft) -> None:
    draft.compare = True
    draft.before_after = True


def _did_help(match: re.Match[str], draft: _Draft) -> None:
    draft.compare = True
    draft.asks_better = True
    draft.understood.append(f"'{match[0]}': a before/after comparison")


def _slo(match: re.Match[str], draft: _Draft) -> None:
    draft.slo = True


def _help(match: re.Match[str], draft: _Draft) -> None:
    draft.help = True


def _by_service(match: re.Match[str], draft: _Draft) -> None:
    draft.group_by_service = True


def _refuse(what: str) -> _Action:
    def act(match: re.Match[str], draft: _Draft) -> None:
        draft.refused.append(what.format(word=match[0], verb=match.groupdict().get("verb")))

    return act


def _note_availability(match: re.Match[str], draft: _Draft) -> None:
    draft.measure_at(match.start(), Measure.ERROR_RATIO)
    draft.understood.append(f"'{match[0]}' read as the error ratio (its complement)")


_ERRORS = r"(?:errors?|5xx(?: errors| responses)?s?|5\d\d ?(?:s|errors|responses)|failures?|failed requests?|failing requests?|server errors?|exceptions?)"  # noqa: E501
_REQUESTS = r"(?:requests?|reqs?|calls?|hits?)"

# Applied in order; each match is removed from the text so later phrases cannot reuse it.
_PHRASES: list[tuple[re.Pattern[str], _Action]] = [
    (_rx(r"select\b.{0,200}?\bfrom|insert into|drop table|delete from|union select|update \w+ set"),
     _refuse("'{word}' looks like a database query: I only answer questions about metrics")),
    (_rx(r"sudo|rm -\w+|drop table|truncate table|shutdown -\w+"),
     _refuse("'{word}' is a command: I only read metrics and answer questions")),
    (_rx(r"did (?:the |my |our |this |that |it |we |your )?(?:[a-z]+ ){0,3}?(?:help|work|make (?:a |any )?difference|improve (?:it|things|anything))"),  # noqa: E501
     _did_help),
    (_rx(r"before ?(?:and|&|/|vs\.?|versus) ?after"), _before_after),
    (re.compile(r"(?:^|(?<=[;,] ))(?:(?:please|pls|can you|could you|would you|go|now|and|then) )*(?P<verb>(?:re)?deploy|roll ?back|revert|restart|reboot|scale(?: up| down| out| in)?|shut ?down|terminate|kill|sudo|rm|silence|mute|delete|execute|install)(?![\w/])(?! /)"),  # noqa: E501
     _refuse("I can't {verb}: I only read metrics and answer questions")),
    (_rx(r"error ?budgets?(?: left| remaining)?|budgets?|burn(?:ing)? rate|slos?|slas?|slis?|service levels?(?: objectives?)?|objectives?|(?:meeting|meet|met|missing|within) (?:its |their |the |our )?(?:targets?|goals?|budget)|breach(?:ing|ed|es)?|compliance|compliant"),  # noqa: E501
     _slo),
    (_rx(rf"(?:cost )?per (?:1k|1 ?000|1,000|k|(?:a )?thousand) {_REQUESTS}|(?:cost )?per {_REQUESTS}"),  # noqa: E501
     _cost_unit(CostUnit.PER_1K_REQUESTS)),
    (_rx(r"projected|projection|forecast(?:ed)?|run[- ]?rate|(?:by|at) (?:the )?end of (?:the )?month|eom|per month|a month|each month|monthly|/month|/mo"),  # noqa: E501
     _cost_unit(CostUnit.PROJECTED_MONTH)),
    (_rx(r"per day|a day|each day|daily|/day|per 24 ?h"), _cost_unit(CostUnit.PER_DAY)),
    (_rx(r"(?:total|overall) (?:cost|spend)|(?:cost|spend) in total"),
     _cost_unit(CostUnit.TOTAL)),
    (_rx(rf"(?:the )?(?P<word>most|fewest|least) (?P<what>{_ERRORS}|{_REQUESTS}|traffic)"),
     _most_count),
    (_rx(r"top(?: (?P<n>" + _NUM + r"))?|bottom(?: (?P<n2>" + _NUM + r"))?"), _top),
    (_rx(rf"(?:the )?(?:(?P<n>{_NUM}) )?(?P<word>{_SUPERLATIVE})"), _superlative),
    (_rx(r"(?:got|gotten|get|getting|became|become|becoming|grew|went|go|gone|has become|is|are) (?:slower|faster|worse|better|up|down)|slower|faster|worse|better|regress(?:ed|ion|ions|ing)?|degrad(?:ed|ation|ing)|improv(?:ed|ement|ements|ing)|increas(?:ed|es|ing|e)|decreas(?:ed|es|ing|e)|jump(?:ed|s)?|spik(?:ed|es|e)|changed|changes?|drops?|dropped|slowed down|sped up|worsened|recovered|went (?:up|down)|fell"),  # noqa: E501
     _change),
    (_rx(r"week over week|wow|day over day|dod|month over month|mom|vs\.?|versus|v\.s\.?|compared?(?: to| with| against)?|comparison|comparing|relative to|against|than|diff(?:erence)?"),  # noqa: E501
     _compare),
    (_rx(rf"(?:how many|number of|count of|total number of|total|#) {_ERRORS}|{_ERRORS} count|error counts?|{_ERRORS} in total|how many {_REQUESTS} (?:failed|errored|were errors)"),  # noqa: E501
     _measure(Measure.ERROR_COUNT)),
    (_rx(rf"(?:how many|number of|count of|total number of|total|#) {_REQUESTS}(?! ?(?:per|a|/) ?(?:second|sec|s)\b)|{_REQUESTS} count|request volume|{_REQUESTS} in total"),  # noqa: E501
     _measure(Measure.REQUEST_COUNT)),
    (_rx(r"costs?|costing|costly|burns?|burning|expensive|pricey|pricing|price|spend(?:ing)?|spent|money|bill(?:ing)?|dollars?|euros?|\$|how much (?:does|do|did|is|are|will|would)"),  # noqa: E501
     _measure(Measure.COST)),
    (_rx(r"cpu(?: usage| utili[sz]ation| load)?|processor|cores?"), _measure(Measure.CPU)),
    (_rx(r"memory(?: usage)?|mem|ram|rss|heap|oom"), _measure(Measure.MEMORY)),
    (_rx(rf"throughput|thruput|traffic|rps|qps|tps|req/s|reqs?/s(?:ec)?|{_REQUESTS}(?: per| a|/| /) ?(?:second|sec|s)|per (?:second|sec)|load|busy|volume|usage|{_REQUESTS}"),  # noqa: E501
     _measure(Measure.THROUGHPUT)),
    (_rx(r"success rates?|availability|uptime"), _note_availability),
    (_rx(rf"error[ -]?(?:rates?|ratios?|percentages?|%)|{_ERRORS} %|% (?:of )?{_ERRORS}|fail(?:ure)? (?:rates?|ratios?)|{_ERRORS}|erroring|broken|unreliable|flaky"),  # noqa: E501
     _measure(Measure.ERROR_RATIO)),
    (_rx(r"p\d{1,3}(?:\.\d+)?|\d{1,2}(?:\.\d+)?(?:th|st|nd|rd)? percentile|median|average|avg|mean|max(?:imum)?|peak|tail(?: latency)?"),  # noqa: E501
     _statistic),
    (_rx(r"latenc(?:y|ies)|response ?times?|request (?:duration|time)s?|durations?|how (?:slow|fast|quick|long)|slow(?:ness|ly)?|fast|quick|speed|lag(?:gy|ging)?|sluggish|take long|takes long|taking long|timings?"),  # noqa: E501
     _measure(Measure.LATENCY)),
    (_rx(r"(?:by|per|each|across|all|which|what) services|services|(?:by|per|each|which|what) service"), _by_service),  # noqa: E501
    (_rx(r"which|rank(?:ed|ing|ings)?|leaderboard|list"), _rank_word),
    (_rx(r"help|usage|commands|examples?|what can you do|how does this work|how do i use (?:this|you|it|perfbot)"),  # noqa: E501
     _help),
]


@lru_cache(maxsize=1)
def _protected() -> frozenset[str]:
    """Words the corrector leaves alone: every word the phrases and time patterns use."""
    sources = [pattern.pattern for pattern, _ in _PHRASES]
    sources += [pattern.pattern for pattern, _ in timeexpr.PATTERNS]
    words = {word for source in sources for word in re.findall(r"[a-z]{3,}", source)}
    return frozenset(words) | VOCABULARY | STOPWORDS


# --- the parser -----------------------------------------------------------------------------


def parse(text: str, catalog: Catalog, now: datetime, tz: ZoneInfo) -> Query:
    """Read one question. Never raises: anything it cannot use ends up in a help query."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    try:
        return _parse(text, catalog, now, tz)
    except Exception as exc:  # a bug must not reach the asker as a traceback
        return Query(
            text="",
            intent=Intent.HELP,
            not_understood=(f"I could not read this question ({type(exc).__name__})",),
        )


def _parse(text: str, catalog: Catalog, now: datetime, tz: ZoneInfo) -> Query:
    clean = normalise(text if isinstance(text, str) else "")
    draft = _Draft()
    if len(clean) > MAX_TEXT:
        clean = clean[:MAX_TEXT].rsplit(" ", 1)[0]
        draft.not_understood.append(f"only the first {MAX_TEXT} characters were read")
    if not clean:
        draft.help = True
        return _help_query(clean, draft, None, Subjects(), [])

    lexicon = _lexicon(catalog)
    spelled = _spell(clean, lexicon, draft.understood)
    hits = timeexpr.find_times(spelled, now, tz)
    rest = _blank(spelled, [(h.start, h.end) for h in hits])
    for pattern, action in _PHRASES:
        spans = []
        for match in pattern.finditer(rest):
            action(match, draft)
            spans.append((match.start(), match.end()))
        rest = _blank(rest, spans)

    subjects, unknown = _subjects(rest, _Names(catalog, lexicon), draft)
    return _build(clean, spelled, draft, hits, subjects, unknown, now, tz)


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    """Replace each span by a separator of the same length, so positions stay valid."""
    for start, end in spans:
        text = text[:start] + ";" + " " * (end - start - 1) + text[end:]
    return text


# --- subjects -------------------------------------------------------------------------------


def _tokens(rest: str) -> list[str]:
    """Words, paths and separators; separators come out as ","."""
    tokens: list[str] = []
    for raw in re.split(r"[\s;]+|(,)", rest):
        if raw is None or raw == "":
            continue
        if raw == ",":
            tokens.append(",")
            continue
        if raw.startswith("/"):
            path = re.sub(r"[^a-z0-9_{}./:-]", "", raw).rstrip(".,:")
            tokens.append(path or ",")
            continue
        # Braces outside a path are query syntax ("checkout\"}"): kept, to be reported.
        for part in re.findall(r"[a-z0-9_-]+|[{}]", raw) or [","]:
            tokens.append(part.strip("-_") or ",")
    return tokens


def _runs(tokens: list[str]) -> list[list[str]]:
    """Groups of consecutive name words; filler stays inside a group, stopwords split it."""
    runs: list[list[str]] = []
    current: list[str] = []
    for i, token in enumerate(tokens):
        next_token = tokens[i + 1] if i + 1 < len(tokens) else ""
        if token in _METHODS and next_token.startswith("/"):
            current.append(token)
            continue
        if token == "/" and not (current and current[-1] in _METHODS):
            token = ","  # a lone slash names the root route only after a method: "GET /"
        if token in _BREAKERS or token in STOPWORDS or token in _METHODS or token in ("{", "}"):
            if current:
                runs.append(current)
            current = []
            if token in ("{", "}"):
                runs.append([token])
            continue
        current.append(token)
    if current:
        runs.append(current)
    # A group of only filler ("endpoints" in "top 5 slowest endpoints") names nothing.
    return [run for run in runs if any(word not in _FILLER for word in run)]


@dataclass
class _Found:
    endpoints: list[str] = field(default_factory=list)
    services: list[str] = field(default_factory=list)
    unresolved: str | None = None
    suggestions: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Names:
    """Catalog look-ups for one question, through the catalog's memo."""

    catalog: Catalog
    lexicon: _Lexicon

    def resolve(self, phrase: str) -> Resolution:
        return self.lexicon.resolve(self.catalog, phrase)


def _subjects(rest: str, catalog: _Names, draft: _Draft) -> tuple[_Found, list[str]]:
    """Look the remaining words up in the catalog; returns the finds and the unknown words."""
    found = _Found()
    unknown: list[str] = []
    lookups = 0
    for run in _runs(_tokens(rest)):
        start = 0
        pending: list[str] = []  # consecutive words that named nothing: reported as one phrase
        while start < len(run):
            if lookups >= MAX_PIECES:
                pending.extend(run[start:])
                break
            piece, resolution, lookups = _longest_name(run, start, catalog, lookups)
            start += len(piece)
            if resolution is None or not _named(resolution):
                if resolution is not None and resolution.status == "ambiguous":
                    _unresolved(" ".join(piece), resolution, found, draft, unknown)
                else:
                    pending.extend(piece)
                continue
            lookups = _flush(pending, catalog, lookups, found, draft, unknown)
            _accept(" ".join(piece), resolution, found, draft)
        _flush(pending, catalog, lookups, found, draft, unknown)
    return found, unknown


def _flush(
    pending: list[str],
    catalog: _Names,
    lookups: int,
    found: _Found,
    draft: _Draft,
    unknown: list[str],
) -> int:
    if not pending:
        return lookups
    phrase = " ".join(pending)
    pending.clear()
    resolution = None
    if lookups < MAX_PIECES and not phrase.isdigit():
        resolution = catalog.resolve(phrase)  # for its suggestions
        lookups += 1
    _unresolved(phrase, resolution, found, draft, unknown)
    return lookups


def _longest_name(
    run: list[str], start: int, catalog: _Names, lookups: int
) -> tuple[list[str], Resolution | None, int]:
    """The longest words from ``start`` that name something; else the first word alone."""
    first: Resolution | None = None
    for end in range(min(len(run), start + MAX_RUN), start, -1):
        piece = run[start:end]
        if all(word in _FILLER for word in piece) or piece[-1] in _METHODS:
            continue
        resolution = catalog.resolve(" ".join(piece))
        lookups += 1
        if _named(resolution):
            return piece, resolution, lookups
        if end == start + 1:
            first = resolution
        if lookups >= MAX_PIECES:
            break
    return run[start : start + 1], first, lookups


def _named(resolution: Resolution) -> bool:
    """Whether the resolution names something to answer about (a shared key: all of them)."""
    return resolution.status not in ("unknown", "ambiguous") or resolution.shared_key


def _accept(phrase: str, resolution: Resolution, found: _Found, draft: _Draft) -> None:
    if resolution.service:
        if resolution.service not in found.services:
            found.services.append(resolution.service)
        named = f"the {resolution.service} service"
    else:
        keys = [entry.label for entry in resolution.matches]  # unique, unlike shared keys
        found.endpoints.extend(key for key in keys if key not in found.endpoints)
        named = ", ".join(keys)
    if resolution.status == "fuzzy":
        draft.understood.append(f"read '{phrase}' as {named}")


def _unresolved(
    phrase: str,
    resolution: Resolution | None,
    found: _Found,
    draft: _Draft,
    unknown: list[str],
) -> None:
    if len(phrase) < 2 or not re.search(r"[a-z]", phrase):  # digits, braces: query debris
        unknown.append(phrase)
        draft.not_understood.append(f"'{phrase}': not understood")
        return
    if resolution is not None and (resolution.suggestions or resolution.status == "ambiguous"):
        message = resolution.message
        suggestions = list(resolution.suggestions)
    else:
        message = f"'{phrase[:60]}': not a measure, time or endpoint I know"
        suggestions = []
    unknown.append(phrase)
    draft.not_understood.append(message)
    if found.unresolved is None:
        found.unresolved = phrase[:60]
        found.suggestions = suggestions


# --- assembling the query -------------------------------------------------------------------


_CONNECTOR = re.compile(
    r"(?:vs\.?|versus|compared?(?: to| with| against)?|than|against|relative to|over|with|and)"
    r"(?: the)?\s*$"
)


def _build(
    clean: str,
    spelled: str,
    draft: _Draft,
    hits: list[TimeHit],
    found: _Found,
    unknown: list[str],
    now: datetime,
    tz: ZoneInfo,
) -> Query:
    subjects = Subjects(
        endpoints=tuple(found.endpoints),
        services=tuple(found.services),
        unresolved=found.unresolved,
        suggestions=tuple(found.suggestions[:5]),
    )
    for hit in hits:
        if hit.problem:
            draft.not_understood.append(hit.problem)
    measure = _main_measure(draft)
    intent = _intent(draft, measure, found, unknown, hits)
    if intent is Intent.HELP:
        return _help_query(clean, draft, measure, subjects, hits)

    if measure is None and intent is Intent.RANK:
        measure = Measure.LATENCY
        draft.understood.append("latency assumed: a change question without a measure")
    statistic = _statistic_for(measure, draft)
    cost_unit = (draft.cost_unit or CostUnit.TOTAL) if measure is Measure.COST else None
    if draft.cost_unit and measure is not Measure.COST:
        draft.not_understood.append(f"'{_COST_UNIT_WORDS[draft.cost_unit]}' applies to cost only")

    timing = _windows(draft, intent, measure, cost_unit, hits, spelled, now, tz)
    if isinstance(timing, str):
        draft.not_understood.append(timing)
        return _help_query(clean, draft, measure, subjects, hits)
    window, comparison, kind, defaulted = timing
    if intent is Intent.COMPARE and comparison is None:
        comparison, kind = timeexpr.previous(window), ComparisonKind.PREVIOUS
    if intent is Intent.RANK and draft.change and comparison is None:
        comparison, kind = timeexpr.previous(window), ComparisonKind.PREVIOUS

    limit = direction = rank_by = None
    group_by = GroupBy.ENDPOINT
    if intent is Intent.RANK:
        limit = _limit(draft)
        rank_by = RankBy.CHANGE if draft.change else RankBy.LEVEL
        direction = draft.change if draft.change else (draft.direction or Direction.WORST)
        if draft.group_by_service and not found.services:
            group_by = GroupBy.SERVICE
    elif intent is Intent.COMPARE and (draft.change or draft.asks_better):
        direction = draft.change or Direction.BEST

    query = Query(
        text=clean,
        intent=intent,
        measure=measure,
        statistic=statistic,
        cost_unit=cost_unit,
        subjects=subjects,
        group_by=group_by,
        window=window,
        comparison=comparison,
        comparison_kind=kind,
        limit=limit,
        direction=direction,
        rank_by=rank_by,
        understood=(),
        not_understood=tuple(dict.fromkeys(draft.not_understood)),
    )
    notes = _describe(query, draft, defaulted)
    return query.model_copy(update={"understood": tuple(dict.fromkeys(notes))})


def _main_measure(draft: _Draft) -> Measure | None:
    if not draft.measures:
        return Measure.LATENCY if draft.percentile else None
    ordered = sorted(draft.measures, key=lambda pair: pair[0])
    measure = ordered[0][1]
    others = sorted({m.value for _, m in ordered if m is not measure})
    if others:
        draft.not_understood.append(
            f"one measure at a time: answering {measure.value.replace('_', ' ')}, "
            f"not {', '.join(o.replace('_', ' ') for o in others)}"
        )
    return measure


def _intent(
    draft: _Draft,
    measure: Measure | None,
    found: _Found,
    unknown: list[str],
    hits: list[TimeHit],
) -> Intent:
    if draft.refused:
        draft.not_understood.extend(draft.refused)
        return Intent.HELP
    if any(hit.problem for hit in hits):
        return Intent.HELP
    named = bool(found.endpoints or found.services)
    if found.unresolved is not None or (unknown and not named):
        # Words that name nothing known: answering without them would answer another question.
        return Intent.HELP
    if draft.slo:
        return Intent.SLO
    if draft.change is not None:
        # "which endpoints got slower?" ranks; "did checkout get slower?" compares.
        return Intent.RANK if draft.rank or not named else Intent.COMPARE
    ranking = draft.rank or draft.superlative is not None or draft.group_by_service
    if ranking and not found.endpoints:
        if measure is not None:
            return Intent.RANK
        draft.not_understood.append("rank by what? Name a measure: latency, errors, traffic, cost")
        return Intent.HELP
    several = len(found.endpoints) + len(found.services) >= 2
    if draft.compare and not draft.before_after and several and not _has_reference(hits, draft):
        draft.understood.append("side by side: one figure per subject")
        return Intent.VALUE if measure is not None or not unknown else Intent.HELP
    if draft.compare or draft.before_after:
        if measure is not None or named:
            return Intent.COMPARE
        draft.not_understood.append("compare what? Name a measure or an endpoint")
        return Intent.HELP
    if measure is not None:
        return Intent.VALUE
    if named and not unknown and not draft.help:
        return Intent.VALUE  # "how is checkout doing?": an overview
    if not named and not draft.help:
        draft.not_understood.append(
            "no measure, endpoint or service I know: try 'p95 latency of checkout today'"
        )
    return Intent.HELP


def _has_reference(hits: list[TimeHit], draft: _Draft) -> bool:
    """Whether the question names something to compare against ("vs last week")."""
    if draft.compare_shift is not None or draft.compare_months:
        return True
    ranged = [h for h in hits if h.range is not None and h.shift is None]
    return len(ranged) != len(hits) or len(ranged) > 1


def _statistic_for(measure: Measure | None, draft: _Draft) -> Statistic | None:
    stat = draft.statistic
    if measure is Measure.LATENCY:
        if stat is None and draft.superlative in ("worst", "highest", "biggest") and not draft.rank:
            return Statistic.MAX
        return stat or Statistic.P95
    if stat is None:
        return None
    if stat.quantile is not None or measure in (
        Measure.COST,
        Measure.ERROR_COUNT,
        Measure.REQUEST_COUNT,
        None,
    ):
        draft.not_understood.append(
            f"{stat.value} does not apply to {measure.value.replace('_', ' ') if measure else 'an overview'}"  # noqa: E501
        )
        return None
    return stat


def _limit(draft: _Draft) -> int:
    limit = draft.limit
    if limit is None:
        return DEFAULT_LIMIT
    if limit < 1:
        draft.not_understood.append(f"top {limit} makes no list: showing {DEFAULT_LIMIT}")
        return DEFAULT_LIMIT
    if limit > MAX_LIMIT:
        draft.not_understood.append(f"top {limit} is too many: showing {MAX_LIMIT}")
        return MAX_LIMIT
    return limit


_Timing = tuple[TimeRange, TimeRange | None, ComparisonKind | None, bool]


def _default_window(
    intent: Intent, measure: Measure | None, cost_unit: CostUnit | None, now: datetime, tz: ZoneInfo
) -> TimeRange:
    if intent is Intent.SLO:
        return timeexpr.last(SLO_WINDOW, now, tz)
    if measure is Measure.COST:
        if cost_unit is CostUnit.TOTAL:
            return timeexpr.this_month(now, tz)
        return timeexpr.last(COST_SPAN, now, tz)
    return timeexpr.last(DEFAULT_SPAN, now, tz)


def _windows(
    draft: _Draft,
    intent: Intent,
    measure: Measure | None,
    cost_unit: CostUnit | None,
    hits: list[TimeHit],
    spelled: str,
    now: datetime,
    tz: ZoneInfo,
) -> _Timing | str:
    """The main window, the comparison, its kind, and whether the window is a default.

    A string says why there is no usable window.
    """
    comparing = intent is Intent.COMPARE or (
        intent is Intent.RANK and (draft.change is not None or draft.compare)
    )
    usable = [hit for hit in hits if not hit.problem]
    if comparing and (draft.before_after or _moment_after(usable, spelled)):
        moment_hit = next((h for h in usable if h.moment is not None), None)
        if moment_hit is None or moment_hit.moment is None:
            return "before and after what? Give a moment like '2026-11-20 14:00'"
        spans = timeexpr.around(moment_hit.moment, now, tz)
        if spans is None:
            return f"{moment_hit.moment_label} is too recent to compare before and after"
        before, after = spans
        return after, before, ComparisonKind.BEFORE_AFTER, False

    main: TimeHit | None = None
    reference: TimeHit | None = None
    extra: list[TimeHit] = []
    for hit in usable:
        connected = bool(_CONNECTOR.search(spelled[max(0, hit.start - 30) : hit.start]))
        is_reference = hit.range is None or connected or (hit.since and hit.shift is not None)
        if comparing and is_reference and reference is None:
            reference = hit
        elif hit.range is not None and main is None:
            main = hit
        elif hit.range is None and hit.shift is not None and reference is None:
            reference = hit  # "p95 of checkout a week ago": the default window moved back
        else:
            extra.append(hit)
    if comparing and reference is None and extra and main is not None:
        reference = extra.pop(0)  # "compare today and yesterday"
    for hit in extra:
        draft.not_understood.append(f"'{hit.text}': one window at a time, this one ignored")

    defaulted = main is None or main.range is None
    window = main.range if main is not None and main.range is not None else None
    if window is None:
        window = _default_window(intent, measure, cost_unit, now, tz)
    if not comparing:
        if reference is not None and reference.shift is not None:  # a lone "a week ago"
            return timeexpr.shifted(window, reference.shift), None, None, defaulted
        return window, None, None, defaulted
    if reference is None:
        # "this week got slower": against last week so far, not the days just before it
        shift = _cue_shift(draft) or (main.period if main is not None else None)
        if shift is not None:
            return window, timeexpr.shifted(window, shift), ComparisonKind.SHIFT, defaulted
        return window, None, None, defaulted
    if reference.previous:
        return window, timeexpr.previous(window), ComparisonKind.PREVIOUS, defaulted
    if reference.shift is not None:
        comparison = timeexpr.shifted(window, reference.shift)
        return window, comparison, ComparisonKind.SHIFT, defaulted
    if reference.range is not None:
        return window, reference.range, ComparisonKind.EXPLICIT, defaulted
    return window, None, None, defaulted


_AFTER_CUE = re.compile(r"\b(?:after|since)\b[a-z ]{0,24}$")


def _moment_after(hits: list[TimeHit], spelled: str) -> bool:
    """'did the fix help? ... after 14:00', '... since the fix at 09:00': before/after it."""
    for hit in hits:
        if hit.moment is None or hit.shift is not None:
            continue
        if hit.since or _AFTER_CUE.search(spelled[max(0, hit.start - 40) : hit.start]):
            return True
    return False


def _cue_shift(draft: _Draft) -> timeexpr.Shift | None:
    if draft.compare_shift is not None:
        days = draft.compare_shift.days
        label = "a week earlier" if days == 7 else "a day earlier"
        return timeexpr.Shift(delta=draft.compare_shift, label=label)
    if draft.compare_months:
        return timeexpr.Shift(months=draft.compare_months, label="a month earlier")
    return None


_COST_UNIT_WORDS = {
    CostUnit.TOTAL: "in total",
    CostUnit.PER_DAY: "per day",
    CostUnit.PER_1K_REQUESTS: "per 1k requests",
    CostUnit.PROJECTED_MONTH: "projected for the month",
}


def _describe(query: Query, draft: _Draft, defaulted: bool) -> list[str]:
    notes = list(draft.understood)
    if query.measure is not None:
        what = query.measure.value.replace("_", " ")
        if query.statistic is not None:
            what = f"{query.statistic.value} {what}"
        if query.cost_unit is not None and query.cost_unit is not CostUnit.TOTAL:
            what = f"{what} {_COST_UNIT_WORDS[query.cost_unit]}"
        notes.append(f"measure: {what}")
    elif query.intent is Intent.VALUE:
        notes.append("an overview: latency, errors and traffic")
    if query.intent is Intent.SLO:
        notes.append("SLO compliance and error budget")
    for key in query.subjects.endpoints:
        notes.append(f"endpoint: {key}")
    for service in query.subjects.services:
        notes.append(f"service: {service}")
    if query.subjects.everything and query.intent is not Intent.HELP:
        notes.append("all endpoints")
    if query.window is not None:
        notes.append(f"window: {query.window.label}" + (" (default)" if defaulted else ""))
    if query.comparison is not None:
        notes.append(f"compared with: {query.comparison.label}")
    if query.intent is Intent.RANK:
        order = "worst first" if query.direction is Direction.WORST else "best first"
        by = "change" if query.rank_by is RankBy.CHANGE else "level"
        notes.append(f"ranking: top {query.limit} {query.group_by.value}s by {by}, {order}")
    return notes


def _help_query(
    clean: str,
    draft: _Draft,
    measure: Measure | None,
    subjects: Subjects,
    hits: list[TimeHit],
) -> Query:
    notes = list(draft.understood)
    if draft.help and not draft.not_understood:
        notes.append("asked for help")
    if measure is not None:
        notes.append(f"measure: {measure.value.replace('_', ' ')}")
    notes.extend(f"endpoint: {key}" for key in subjects.endpoints)
    notes.extend(f"service: {name}" for name in subjects.services)
    window = next((h.range for h in hits if h.range is not None and not h.problem), None)
    if window is not None:
        notes.append(f"window: {window.label}")
    return Query(
        text=clean,
        intent=Intent.HELP,
        measure=measure,
        subjects=subjects,
        window=window,
        understood=tuple(dict.fromkeys(notes)),
        not_understood=tuple(dict.fromkeys(draft.not_understood)),
    )
