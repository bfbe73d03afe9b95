"""A digest as data: what a team or a manager reads about a period. Pure; built by
``bot.digests.build``, rendered by ``bot.render.digest`` (Block Kit and terminal text)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

DigestKind = Literal["daily", "weekly"]
Unit = Literal["count", "seconds", "ratio", "money", "rate"]
BudgetBand = Literal["exhausted", "< 25%", "25–50%", "50–75%", "> 75%"]
Resource = Literal["cpu", "memory"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Scope(_Frozen):
    """Whose digest: everyone's (both None), one team's (catalog owner) or one service's."""

    team: str | None = None
    service: str | None = None

    @property
    def label(self) -> str:
        if self.service:
            return f"the {self.service} service"
        if self.team:
            return self.team
        return "all services"


class Period(_Frozen):
    """``(start, end]``: the day or week the digest covers, and the one before it."""

    kind: DigestKind
    start: AwareDatetime
    end: AwareDatetime

    @property
    def length(self) -> timedelta:
        return self.end - self.start

    @property
    def previous_start(self) -> AwareDatetime:
        return self.start - self.length


class Headline(_Frozen):
    """One headline figure of the period, against the period before, with a sparkline."""

    name: str  # "requests", "p95", "error ratio", "availability", "cost", "cost per 1k requests"
    unit: Unit
    value: float | None  # None: not measurable (no data, no prices)
    previous: float | None
    spark: tuple[float, ...] = ()  # per-step values over the period, oldest first
    better: Literal["higher", "lower", "none"] = "none"  # which way is good

    @property
    def change(self) -> float | None:
        if self.value is None or self.previous is None or self.previous == 0:
            return None
        return self.value / self.previous - 1


class SloLine(_Frozen):
    """One endpoint's objectives over the SLO window (28 days by default)."""

    endpoint: str  # the label people read ("GET /api/orders/history")
    service: str
    objective: str  # "95% of requests within 500 ms"
    attainment: float  # share of good requests over the SLO window, 0..1
    target: float  # share of good requests the objective asks for, 0..1
    budget_remaining: float | None  # share of the error budget left (negative: overspent)
    band: BudgetBand | None
    burn_rate: float | None  # over the digest's period; 1 spends exactly the budget
    exhausts_at: AwareDatetime | None = None  # before the SLO window ends, at this burn


class Movement(_Frozen):
    """A regression or improvement, week over week, that is statistically real and large."""

    endpoint: str
    service: str
    measure: str  # "p95", "error ratio", "throughput"
    unit: Unit
    old: float
    new: float
    p_value: float
    effect: float  # Cliff's delta, > 0 when the new period is larger
    since: AwareDatetime | None = None  # the change point, when the data shows one
    cause: str = ""  # what happened then: "orders 4.2.0 deployed at 13:55 (migration …)"
    playbook: str | None = None  # the matching playbook's title

    @property
    def relative(self) -> float | None:
        return None if self.old == 0 else self.new / self.old - 1


class CostLine(_Frozen):
    subject: str  # a service, or an endpoint's label
    cost: float
    previous: float | None = None
    per_1k: float | None = None  # cost per 1,000 requests
    per_1k_previous: float | None = None


class CostSection(_Frozen):
    currency: str
    total: float
    previous_total: float | None
    month_projection: float | None  # at the period's daily rate, for the calendar month
    services: tuple[CostLine, ...] = ()  # most expensive first
    endpoints: tuple[CostLine, ...] = ()  # most expensive first
    per_request_growth: tuple[CostLine, ...] = ()  # cost per 1k requests grew the most


class Forecast(_Frozen):
    """When one service's CPU or memory crosses the saturation threshold at its growth."""

    service: str
    resource: Resource
    current: float  # the latest daily peak, share of the limit
    threshold: float  # share of the limit called saturated
    growth_per_day: float  # share of the limit per day (the trend's slope)
    crossing: AwareDatetime | None  # None: no crossing in sight (flat, falling, too far)
    earliest: AwareDatetime | None = None  # the interval around ``crossing``
    latest: AwareDatetime | None = None
    confidence: str = ""  # one sentence on how sure it is, for people
    method: str = ""  # "Theil–Sen trend of daily peaks over 14 days"


class Duration(_Frozen):
    median: timedelta
    worst: timedelta
    worst_incident: str = ""  # "INC-12"


class OpenIncident(_Frozen):
    name: str  # "INC-12"
    title: str
    state: str  # "triggered", "acknowledged"
    since: AwareDatetime


class Recurring(_Frozen):
    title: str
    service: str
    count: int


class OnCallLoad(_Frozen):
    user: str  # Slack user id
    pages: int
    off_hours: int  # pages outside the working hours of the policy's support hours / 09–18


class IncidentSummary(_Frozen):
    total: int
    by_severity: dict[str, int] = {}
    by_service: dict[str, int] = {}
    to_acknowledge: Duration | None = None
    to_resolve: Duration | None = None
    recurring: tuple[Recurring, ...] = ()
    still_open: tuple[OpenIncident, ...] = ()
    load: tuple[OnCallLoad, ...] = ()  # most pages first


class Recommendation(_Frozen):
    """An optimisation worth doing, ranked by its expected gain."""

    subject: str  # "GET /api/orders/history"
    evidence: str  # "p95 up 210% since Sun 14:02"
    gain: str  # "about 310 ms off p95" / "about $120 a month"
    playbook: str | None = None  # "Slow database query / missing index"
    score: float = 0.0  # for ranking: larger first


class DigestChart(_Frozen):
    """The one chart of a digest: a series per line, on shared times."""

    title: str
    unit: Unit
    times: tuple[AwareDatetime, ...]
    lines: dict[str, tuple[float, ...]]  # label → values at ``times``


class Digest(_Frozen):
    period: Period
    scope: Scope = Scope()
    audience: Literal["team", "manager"] = "team"
    headline: tuple[Headline, ...] = ()
    slos: tuple[SloLine, ...] = ()
    regressions: tuple[Movement, ...] = ()
    improvements: tuple[Movement, ...] = ()
    cost: CostSection | None = None
    forecasts: tuple[Forecast, ...] = ()
    incidents: IncidentSummary = IncidentSummary(total=0)
    recommendations: tuple[Recommendation, ...] = ()
    chart: DigestChart | None = None
    notes: tuple[str, ...] = ()  # what could not be read, for honesty ("no cost: no prices")
    complete: bool = True  # False when a section could not be read (the metrics failed)
    built_at: datetime | None = None

    @property
    def quiet(self) -> bool:
        """Nothing to act on: no incident, regression, SLO at risk or saturation coming, and
        every section read (a digest that could not read the metrics cannot say so)."""
        at_risk = any(s.band in ("exhausted", "< 25%") or s.exhausts_at for s in self.slos)
        return (self.complete and self.incidents.total == 0 and not self.regressions
                and not at_risk
                and not any(f.crossing for f in self.forecasts))
