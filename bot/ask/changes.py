"""One figure in two windows, on the same step, and whether the difference is real.

``changes_for`` reads a measure for some subjects in the question's window and in a comparison
window; each ``Change`` carries both figures, their per-step series and the Mann–Whitney test
(``analytics.compare``). Comparisons and rankings by change are composed from these.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from bot.analytics.compare import Difference, compare_samples
from bot.analytics.stats import relative_change
from bot.ask.context import Context, Subject, services_of
from bot.ask.measures import Reading, per_service, read_pair, read_services
from bot.ask.query import Measure, Statistic
from bot.ask.timerange import TimeRange
from bot.figures import series_window
from bot.metrics.base import NoDataError


@dataclass(frozen=True)
class Change:
    """One subject's figure in both windows, and whether the difference is real."""

    subject: Subject
    measure: Measure
    statistic: Statistic | None
    old: float
    new: float
    after: Reading
    before: Reading

    @cached_property
    def difference(self) -> Difference | None:
        """Mann–Whitney U on both windows' per-step values; None: too few to test. Tested when
        first asked: a ranking by change tests the rows it shows, not every endpoint."""
        column = self.subject.column
        return compare_samples(self.before.column(column).to_numpy(dtype=float),
                               self.after.column(column).to_numpy(dtype=float))

    @property
    def relative(self) -> float | None:
        return relative_change(self.new, self.old)

    @property
    def real(self) -> bool:
        return self.difference is not None and self.difference.real

    @property
    def strength(self) -> float:
        return abs(self.difference.effect) if self.difference is not None else 0.0

    def verdict(self) -> str:
        """``significant, p<0.001`` / ``not a significant difference, p=0.41``."""
        d = self.difference
        if d is None:
            return "too few points to test"
        if d.real:
            return f"significant, {d.p_text()}"
        if d.p_value < 0.05:
            return f"too small to matter: {d.magnitude} effect, {d.p_text()}"
        relative = self.relative
        if relative is not None and abs(relative) >= 0.25:
            # The window's figure moved, yet most steps did not: a burst, not a shift.
            return f"a burst, not a lasting shift: not significant, {d.p_text()}"
        return f"not a significant difference, {d.p_text()}"


def changes_for(
    ctx: Context,
    subjects: Sequence[Subject],
    measure: Measure,
    statistic: Statistic | None,
    comparison: TimeRange,
) -> list[Change]:
    """The figures of ``subjects`` in the window and in ``comparison``, on the same step.

    Raises NoDataError when either window has no data at all.
    """
    window = ctx.window
    scoped = ctx.query.model_copy(update={"measure": measure, "statistic": statistic})
    local = Context(scoped, ctx.sources, ctx.now, ctx.chart)
    if per_service(measure):
        services = services_of(subjects)
        grid = series_window(window.start, window.end)
        after = read_services(ctx.backend, measure, statistic, services, window.start,
                              window.end, series=grid)
        try:
            before = read_services(
                ctx.backend, measure, statistic, services, comparison.start, comparison.end,
                series=series_window(comparison.start, comparison.end, grid.step),
            )
        except NoDataError as exc:
            raise no_comparison(comparison) from exc
        targets = [Subject(s, f"the {s} service", (), s) for s in services]
    else:
        (_, after), earlier = read_pair(local, subjects, window, comparison)
        if isinstance(earlier, NoDataError):
            raise no_comparison(comparison) from earlier
        before = earlier[1]
        targets = list(subjects)
    return [
        Change(
            subject=s, measure=measure, statistic=statistic, old=before.value(s.column),
            new=after.value(s.column), after=after, before=before,
        )
        for s in targets
    ]


def no_comparison(comparison: TimeRange) -> NoDataError:
    """Raised ``from exc``: the answer keeps the metrics' own words as a note."""
    return NoDataError(f"nothing to compare with in {comparison.label}")
