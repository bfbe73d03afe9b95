"""A question as data: what the asker wants, about what, over which time.

The parser (``bot.ask.parsing``) fills a ``Query`` from text; the answering side reads only the
``Query`` and never the text again. Every model is frozen and serialises to JSON.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bot.ask.timerange import TimeRange
from bot.metrics.base import Signal

DEFAULT_LIMIT = 5
MAX_LIMIT = 50


class Intent(StrEnum):
    VALUE = "value"  # a figure for some subjects (all endpoints when none are named)
    RANK = "rank"  # the top ``limit`` endpoints (or services) by a measure or its change
    COMPARE = "compare"  # the same figure in ``window`` and ``comparison``
    SLO = "slo"  # SLO compliance and error budget
    HELP = "help"  # asked for help, or not understood: see ``understood``/``not_understood``


class Measure(StrEnum):
    LATENCY = "latency"
    ERROR_RATIO = "error_ratio"
    ERROR_COUNT = "error_count"
    THROUGHPUT = "throughput"
    REQUEST_COUNT = "request_count"
    COST = "cost"
    CPU = "cpu"
    MEMORY = "memory"

    @property
    def signal(self) -> Signal | None:
        """The metrics signal this measure reads directly, if one does."""
        return _SIGNAL.get(self)

    @property
    def signals(self) -> tuple[Signal, ...]:
        """Every signal needed to compute it: a count is a rate integrated over the window."""
        return _SIGNALS.get(self, ())

    @property
    def higher_is_worse(self) -> bool:
        """For "worst first": more latency, errors, cost or load is worse; less traffic is not."""
        return self not in (Measure.THROUGHPUT, Measure.REQUEST_COUNT)


_SIGNAL = {
    Measure.LATENCY: Signal.LATENCY,
    Measure.ERROR_RATIO: Signal.ERROR_RATIO,
    Measure.THROUGHPUT: Signal.THROUGHPUT,
    Measure.CPU: Signal.CPU,
    Measure.MEMORY: Signal.MEMORY,
}
_SIGNALS = {
    **{measure: (signal,) for measure, signal in _SIGNAL.items()},
    Measure.REQUEST_COUNT: (Signal.THROUGHPUT,),
    Measure.ERROR_COUNT: (Signal.THROUGHPUT, Signal.ERROR_RATIO),
}


class Statistic(StrEnum):
    P50 = "p50"
    P75 = "p75"
    P90 = "p90"
    P95 = "p95"
    P99 = "p99"
    AVG = "avg"
    MAX = "max"

    @property
    def quantile(self) -> float | None:
        """0.95 for p95; None for avg and max."""
        if self.value.startswith("p"):
            return int(self.value[1:]) / 100
        return None


class CostUnit(StrEnum):
    TOTAL = "total"  # spent over the window
    PER_DAY = "per_day"  # average per day over the window
    PER_1K_REQUESTS = "per_1k_requests"
    PROJECTED_MONTH = "projected_month"  # the window's run rate over a whole calendar month


class Direction(StrEnum):
    WORST = "worst"  # slowest, most errors, most expensive, busiest, got slower
    BEST = "best"  # fastest, fewest errors, cheapest, quietest, improved


class RankBy(StrEnum):
    LEVEL = "level"  # the measure in ``window``
    CHANGE = "change"  # the measure in ``window`` against ``comparison`` ("got slower")


class GroupBy(StrEnum):
    ENDPOINT = "endpoint"
    SERVICE = "service"


class ComparisonKind(StrEnum):
    SHIFT = "shift"  # the same span moved back: "vs last week", "compared to yesterday"
    PREVIOUS = "previous"  # the equal span just before: "vs the previous period", a default
    BEFORE_AFTER = "before_after"  # equal spans around a moment; ``window`` is the "after"
    EXPLICIT = "explicit"  # a window named outright: "vs nov 17"


class Subjects(BaseModel):
    """What the question is about, only as the catalog names it.

    ``endpoints`` holds catalog labels: the key (``POST /api/checkout``), or the key with
    its service (``POST /graphql (orders)``) where several services serve that key.

    Empty ``endpoints`` and ``services`` mean every endpoint. ``unresolved`` is the (cleaned,
    short) phrase the catalog could not place, with its ``suggestions``; it is for the help
    reply only and never used to select metrics.
    """

    model_config = ConfigDict(frozen=True)

    endpoints: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    unresolved: str | None = None
    suggestions: tuple[str, ...] = ()

    @property
    def everything(self) -> bool:
        return not self.endpoints and not self.services


class Query(BaseModel):
    """A parsed question. ``window`` is set for every intent but help."""

    model_config = ConfigDict(frozen=True)

    text: str
    intent: Intent
    measure: Measure | None = None  # None with intent value: an overview of the subjects
    statistic: Statistic | None = None
    cost_unit: CostUnit | None = None
    subjects: Subjects = Subjects()
    group_by: GroupBy = GroupBy.ENDPOINT
    window: TimeRange | None = None
    comparison: TimeRange | None = None
    comparison_kind: ComparisonKind | None = None
    limit: int | None = Field(default=None, ge=1, le=MAX_LIMIT)
    direction: Direction | None = None
    rank_by: RankBy | None = None
    understood: tuple[str, ...] = ()
    not_understood: tuple[str, ...] = ()
    # Readings that changed what the question names (a corrected name, a name taken as a
    # measure): also in ``understood``, and said in the answer's headline.
    read_as: tuple[str, ...] = ()
    # "is checkout slower than usual?": the window against the detector's seasonal baseline.
    usual: bool = False
    # "is anything broken right now?": the SLOs missed and the incidents open.
    broken: bool = False

    @model_validator(mode="after")
    def _check(self) -> Query:
        if self.intent is not Intent.HELP and self.window is None:
            raise ValueError(f"a {self.intent} query needs a window")
        if self.intent is Intent.COMPARE and self.comparison is None:
            raise ValueError("a compare query needs a comparison window")
        if self.comparison is not None and self.comparison_kind is None:
            raise ValueError("a comparison window needs its kind")
        if self.intent is Intent.RANK and (self.limit is None or self.direction is None):
            raise ValueError("a rank query needs a limit and a direction")
        return self
