"""Which window a question means, and what it is compared with, from the time expressions found.

Defaults when none is named: the last 24h; for cost, this month so far (a total) or the last
7 days; for SLOs, the last 30 days.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.ask.parsing.phrases import Draft
from bot.ask.parsing.timeexpr import TimeHit
from bot.ask.query import ComparisonKind, CostUnit, Intent, Measure
from bot.ask.timerange import Shift, TimeRange, around, last, previous, shifted, this_month

SLO_WINDOW = timedelta(days=30)
DEFAULT_SPAN = timedelta(hours=24)
COST_SPAN = timedelta(days=7)

_CONNECTOR = re.compile(
    r"(?:vs\.?|versus|compared?(?: to| with| against)?|than|against|relative to|over|with|and)"
    r"(?: the)?\s*$"
)

_Timing = tuple[TimeRange, TimeRange | None, ComparisonKind | None, bool]


def _default_window(
    intent: Intent, measure: Measure | None, cost_unit: CostUnit | None, now: datetime, tz: ZoneInfo
) -> TimeRange:
    if intent is Intent.SLO:
        return last(SLO_WINDOW, now, tz)
    if measure is Measure.COST:
        if cost_unit is CostUnit.TOTAL:
            return this_month(now, tz)
        return last(COST_SPAN, now, tz)
    return last(DEFAULT_SPAN, now, tz)


def choose_windows(
    draft: Draft,
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
        spans = around(moment_hit.moment, now, tz)
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
            return shifted(window, reference.shift), None, None, defaulted
        return window, None, None, defaulted
    if reference is None:
        # "this week got slower": against last week so far, not the days just before it
        shift = _cue_shift(draft) or (main.period if main is not None else None)
        if shift is not None:
            return window, shifted(window, shift), ComparisonKind.SHIFT, defaulted
        return window, None, None, defaulted
    if reference.previous:
        return window, previous(window), ComparisonKind.PREVIOUS, defaulted
    if reference.shift is not None:
        comparison = shifted(window, reference.shift)
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


def _cue_shift(draft: Draft) -> Shift | None:
    if draft.compare_shift is not None:
        days = draft.compare_shift.days
        label = "a week earlier" if days == 7 else "a day earlier"
        return Shift(delta=draft.compare_shift, label=label)
    if draft.compare_months:
        return Shift(months=draft.compare_months, label="a month earlier")
    return None
