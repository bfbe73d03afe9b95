"""Step 4 of parsing: the phrases that say what is asked, read into a ``Draft``.

The measure ("p95", "error rate", "how many 5xx", "cost per 1k requests"), ranking
("top 5", "slowest"), change ("got slower"), comparison ("vs", "before and after"), SLO
words, help, and actions the bot does not take ("deploy", SQL). ``PHRASES`` is applied in
order and each match is removed, so later phrases cannot reuse its words.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache

from bot.ask.parsing.normalise import SPACES
from bot.ask.query import CostUnit, Direction, Measure, Statistic

_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20,
    "dozen": 12, "a dozen": 12,
}  # fmt: skip
_NUM = r"(?:\d{1,6}|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|(?:a )?dozen)"  # noqa: E501


@dataclass
class Draft:
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
    read_as: list[str] = field(default_factory=list)  # what changed the subject (headline)
    usual: bool = False
    broken: bool = False
    not_understood: list[str] = field(default_factory=list)

    def measure_at(self, pos: int, measure: Measure) -> None:
        self.measures.append((pos, measure))


_Action = Callable[[re.Match[str], Draft], None]


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w/{{}}$])(?:{pattern})(?![\w/{{}}])")


def _measure(measure: Measure) -> _Action:
    def act(match: re.Match[str], draft: Draft) -> None:
        draft.measure_at(match.start(), measure)

    return act


def _cost_unit(unit: CostUnit) -> _Action:
    def act(match: re.Match[str], draft: Draft) -> None:
        draft.cost_unit = draft.cost_unit or unit
        draft.measure_at(match.start(), Measure.COST)

    return act


def _statistic(match: re.Match[str], draft: Draft) -> None:
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


def _superlative(match: re.Match[str], draft: Draft) -> None:
    word = SPACES.sub(" ", match["word"])
    direction, measure = _SUPERLATIVES[word]
    draft.direction = draft.direction or direction
    draft.superlative = draft.superlative or word
    if measure is not None:
        draft.measure_at(match.start(), measure)
    count = _number(match["n"])
    if count is not None:
        draft.limit = draft.limit or count
        draft.rank = True


def _most_count(match: re.Match[str], draft: Draft) -> None:
    """"the most errors" is a count of errors, not a share of them."""
    draft.direction = draft.direction or _SUPERLATIVES[match["word"]][0]
    draft.superlative = draft.superlative or match["word"]
    what = match["what"]
    traffic = re.fullmatch(_REQUESTS, what) or what == "traffic"
    draft.measure_at(match.start(), Measure.REQUEST_COUNT if traffic else Measure.ERROR_COUNT)


def _top(match: re.Match[str], draft: Draft) -> None:
    draft.rank = True
    if match[0].startswith("bottom"):
        draft.direction = draft.direction or Direction.BEST
    count = _number(match["n"] or match["n2"])
    if count is not None:
        draft.limit = draft.limit or count


def _rank_word(match: re.Match[str], draft: Draft) -> None:
    draft.rank = True


def _change(match: re.Match[str], draft: Draft) -> None:
    text = match[0]
    better = re.search(
        r"\b(?:faster|better|down|improv\w*|decreas\w*|drop\w*|sped|recover\w*|fell)\b", text
    )
    draft.change = draft.change or (Direction.BEST if better else Direction.WORST)
    if re.search(r"slow|fast|sped|lag", text):
        draft.measure_at(match.start(), Measure.LATENCY)


def _compare(match: re.Match[str], draft: Draft) -> None:
    draft.compare = True
    text = match[0]
    if "week" in text or text == "wow":
        draft.compare_shift = timedelta(days=7)
    elif "day" in text or text == "dod":
        draft.compare_shift = timedelta(days=1)
    elif "month" in text or text == "mom":
        draft.compare_months = 1


def _before_after(match: re.Match[str], draft: Draft) -> None:
    draft.compare = True
    draft.before_after = True


def _did_help(match: re.Match[str], draft: Draft) -> None:
    draft.compare = True
    draft.asks_better = True
    draft.understood.append(f"'{match[0]}': a before/after comparison")


def _usual(match: re.Match[str], draft: Draft) -> None:
    draft.usual = True


def _broken(match: re.Match[str], draft: Draft) -> None:
    draft.broken = True


def _slo(match: re.Match[str], draft: Draft) -> None:
    draft.slo = True


def _help(match: re.Match[str], draft: Draft) -> None:
    draft.help = True


def _by_service(match: re.Match[str], draft: Draft) -> None:
    draft.group_by_service = True


def _refuse(what: str) -> _Action:
    def act(match: re.Match[str], draft: Draft) -> None:
        draft.refused.append(what.format(word=match[0], verb=match.groupdict().get("verb")))

    return act


def _note_availability(match: re.Match[str], draft: Draft) -> None:
    draft.measure_at(match.start(), Measure.ERROR_RATIO)
    draft.understood.append(f"'{match[0]}' read as the error ratio (its complement)")


_ERRORS = r"(?:errors?|5xx(?: errors| responses)?s?|5\d\d ?(?:s|errors|responses)|failures?|failed requests?|failing requests?|server errors?|exceptions?)"  # noqa: E501
_REQUESTS = r"(?:requests?|reqs?|calls?|hits?)"

# Applied in order; each match is removed from the text so later phrases cannot reuse it.
PHRASES: list[tuple[re.Pattern[str], _Action]] = [
    (_rx(r"select\b.{0,200}?\bfrom|insert into|drop table|delete from|union select|update \w+ set"),
     _refuse("'{word}' looks like a database query: I only answer questions about metrics")),
    (_rx(r"sudo|rm -\w+|drop table|truncate table|shutdown -\w+"),
     _refuse("'{word}' is a command: I only read metrics and answer questions")),
    (_rx(r"did (?:the |my |our |this |that |it |we |your )?(?:[a-z]+ ){0,3}?(?:help|work|make (?:a |any )?difference|improve (?:it|things|anything))"),  # noqa: E501
     _did_help),
    (_rx(r"before ?(?:and|&|/|vs\.?|versus) ?after"), _before_after),
    (_rx(r"(?:is |are )?(?:anything|something|everything|any ?thing|what(?: is|s)?) (?:broken|down|wrong|on fire|burning|failing|ok|okay|fine|healthy)(?: (?:anywhere|at the moment))?|(?:any|which) (?:open |active )?incidents?(?: open)?|what(?: is|s)? (?:broken|on fire)"),  # noqa: E501
     _broken),
    (_rx(r"(?:(?:higher|lower|above|below|more|less) )?(?:(?:than|vs\.?|versus|compared to|against) (?:the )?)?(?:usual|normal|typical|expected)(?: (?:for (?:this|the) time(?: of day)?|levels?|range|band))?|unusual(?:ly)?|abnormal(?:ly)?|out of the ordinary"),  # noqa: E501
     _usual),
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


@lru_cache(maxsize=1024)
def read_alone(word: str) -> tuple[Measure | None, bool]:
    """What the phrases make of ``word`` on its own: its measure, and whether it is an SLO
    word; how a catalog name spelled like one of them would be read."""
    draft = Draft()
    for pattern, action in PHRASES:
        match = pattern.search(word)
        if match is not None and match[0] == word:
            action(match, draft)
            break
    return (draft.measures[0][1] if draft.measures else None), draft.slo
