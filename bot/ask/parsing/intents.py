"""The ``Query`` from what was read: its intent, measure, statistic, limit, and what was understood.

The intent is ``help`` (never a guess) when words name nothing known, a time cannot be used,
an action is asked for, or nothing asks for a figure.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.ask.parsing.phrases import Draft
from bot.ask.parsing.subjects import Found
from bot.ask.parsing.timeexpr import TimeHit
from bot.ask.parsing.timing import choose_windows
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
from bot.ask.timerange import last, previous

RECENT = timedelta(hours=1)  # "is anything broken", "slower than usual": the last hour


def build(
    clean: str,
    spelled: str,
    draft: Draft,
    hits: list[TimeHit],
    found: Found,
    unknown: list[str],
    now: datetime,
    tz: ZoneInfo,
) -> Query:
    """The ``Query`` from the draft, the time expressions and the subjects found."""
    subjects = Subjects(
        endpoints=tuple(found.endpoints),
        services=tuple(found.services),
        unresolved=found.unresolved,
        suggestions=tuple(found.suggestions[:5]),
    )
    for hit in hits:
        if hit.problem:
            draft.not_understood.append(hit.problem)
        elif hit.note:
            draft.understood.append(hit.note)
    measure = _main_measure(draft)
    intent = _intent(draft, measure, found, unknown, hits)
    named = bool(found.endpoints or found.services)
    usual = draft.usual and intent is Intent.VALUE
    broken = draft.broken and intent is Intent.VALUE and not named
    if usual and measure is None:
        measure = Measure.LATENCY  # "is checkout slower than usual", "is checkout unusual"
        if not draft.change:
            draft.understood.append("latency assumed: name errors or traffic for those")
    if intent is Intent.HELP:
        return help_query(clean, draft, measure, subjects, hits)

    if measure is None and intent is Intent.RANK:
        measure = Measure.LATENCY
        draft.understood.append("latency assumed: a change question without a measure")
    statistic = _statistic_for(measure, draft)
    cost_unit = (draft.cost_unit or CostUnit.TOTAL) if measure is Measure.COST else None
    if draft.cost_unit and measure is not Measure.COST:
        draft.not_understood.append(f"'{_COST_UNIT_WORDS[draft.cost_unit]}' applies to cost only")

    timing = choose_windows(draft, intent, measure, cost_unit, hits, spelled, now, tz)
    if isinstance(timing, str):
        draft.not_understood.append(timing)
        return help_query(clean, draft, measure, subjects, hits)
    window, comparison, kind, defaulted = timing
    if defaulted and (usual or broken):  # "now", but long enough to say something
        window = last(RECENT, now, tz)
    if intent is Intent.COMPARE and comparison is None:
        comparison, kind = previous(window), ComparisonKind.PREVIOUS
    if intent is Intent.RANK and draft.change and comparison is None:
        comparison, kind = previous(window), ComparisonKind.PREVIOUS

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
        read_as=tuple(dict.fromkeys(draft.read_as)),
        usual=usual,
        broken=broken,
    )
    notes = _describe(query, draft, defaulted)
    return query.model_copy(update={"understood": tuple(dict.fromkeys(notes))})


def _main_measure(draft: Draft) -> Measure | None:
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
    draft: Draft,
    measure: Measure | None,
    found: Found,
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
    if draft.usual and not draft.slo and not draft.rank and not draft.before_after:
        if not named and measure is None and draft.change is None:
            draft.not_understood.append(
                "unusual what? Name an endpoint or a measure: 'is checkout slower than usual'")
            return Intent.HELP
        if measure in (None, Measure.LATENCY, Measure.ERROR_RATIO, Measure.THROUGHPUT):
            return Intent.VALUE  # against the seasonal baseline: no comparison window
        draft.not_understood.append(
            "usual levels are kept for latency, errors and traffic only")
        return Intent.HELP
    if draft.broken and not named and not draft.slo:
        return Intent.VALUE  # the SLOs missed and the incidents open
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


def _has_reference(hits: list[TimeHit], draft: Draft) -> bool:
    """Whether the question names something to compare against ("vs last week")."""
    if draft.compare_shift is not None or draft.compare_months:
        return True
    ranged = [h for h in hits if h.range is not None and h.shift is None]
    return len(ranged) != len(hits) or len(ranged) > 1


def _statistic_for(measure: Measure | None, draft: Draft) -> Statistic | None:
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


def _limit(draft: Draft) -> int:
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


_COST_UNIT_WORDS = {
    CostUnit.TOTAL: "in total",
    CostUnit.PER_DAY: "per day",
    CostUnit.PER_1K_REQUESTS: "per 1k requests",
    CostUnit.PROJECTED_MONTH: "projected for the month",
}


def _describe(query: Query, draft: Draft, defaulted: bool) -> list[str]:
    notes = list(draft.understood)
    if query.measure is not None:
        what = query.measure.value.replace("_", " ")
        if query.statistic is not None:
            what = f"{query.statistic.value} {what}"
        if query.cost_unit is not None and query.cost_unit is not CostUnit.TOTAL:
            what = f"{what} {_COST_UNIT_WORDS[query.cost_unit]}"
        notes.append(f"measure: {what}")
    elif query.intent is Intent.VALUE and not query.broken:
        notes.append("an overview: latency, errors and traffic")
    if query.intent is Intent.SLO:
        notes.append("SLO compliance and error budget")
    if query.usual:
        notes.append("against the usual level: the detector's seasonal baseline")
    if query.broken:
        notes.append("what is broken: SLOs missed and incidents open")
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


def help_query(
    clean: str,
    draft: Draft,
    measure: Measure | None,
    subjects: Subjects,
    hits: list[TimeHit],
) -> Query:
    """A help ``Query`` that says what was understood and what was not."""
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
