"""A digest as a Slack message (Block Kit within Slack's limits), as terminal text, and its
one chart. Pure. The manager digest is short and business-level; the team digest adds
per-service detail. A quiet digest is two lines."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, tzinfo
from typing import Any

import pandas as pd

from bot.digests.model import Digest, Headline, Movement, Unit
from bot.render.blocks import (
    MAX_BLOCKS,
    MAX_FALLBACK_CHARS,
    SlackMessage,
    context,
    section,
    validate_blocks,
)
from bot.render.charts import timeseries_chart
from bot.render.mrkdwn import clip, escape, inert
from bot.render.text import (
    format_change,
    format_count,
    format_money,
    format_ratio,
    format_seconds,
    sparkline,
)

Name = Callable[[str], str]  # how a label from metrics or people is shown
_MANAGER_ROWS = 3
_TEAM_ROWS = 5


def _value(unit: Unit, value: float | None, currency: str = "USD") -> str:
    if value is None:
        return "n/a"
    if unit == "seconds":
        return format_seconds(value)
    if unit == "ratio":
        return format_ratio(value)
    if unit == "money":
        return format_money(value, currency)
    return format_count(value)


def _title(digest: Digest, zone: tzinfo) -> str:
    period = digest.period
    start = period.start.astimezone(zone).strftime("%a %d %b %H:%M")
    end = period.end.astimezone(zone).strftime("%a %d %b %H:%M")
    kind = "Weekly" if period.kind == "weekly" else "Daily"
    return f"{kind} digest for {digest.scope.label}: {start} – {end}"


def _headline_line(h: Headline, currency: str) -> str:
    spark = f" {sparkline(list(h.spark))}" if h.spark else ""
    return (f"{h.name}: {_value(h.unit, h.value, currency)} "
            f"({format_change(h.change)} on the period before){spark}")


def _movement_line(m: Movement, zone: tzinfo, name: Name) -> str:
    since = f" since {m.since.astimezone(zone):%a %H:%M}" if m.since else ""
    line = (f"{name(m.endpoint)}: {m.measure} {format_change(m.relative)}, "
            f"{format_seconds(m.old)} → {format_seconds(m.new)}{since} "
            f"(p={m.p_value:.2g}, effect {m.effect:+.2f})")
    if m.cause:
        line += f"; {name(m.cause)}"
    if m.playbook:
        line += f"; matches '{name(m.playbook)}'"
    return line


def _parts(digest: Digest, zone: tzinfo, name: Name) -> list[tuple[str, list[str]]]:
    """The titled parts both renderings share; labels go through ``name``."""
    manager = digest.audience == "manager"
    rows = _MANAGER_ROWS if manager else _TEAM_ROWS
    currency = digest.cost.currency if digest.cost else "USD"
    parts: list[tuple[str, list[str]]] = []
    if digest.headline:
        parts.append(("Headline", [_headline_line(h, currency) for h in digest.headline]))
    if digest.slos:
        at_risk = [s for s in digest.slos if s.band in ("exhausted", "< 25%") or s.exhausts_at]
        shown = at_risk if manager else list(digest.slos)
        lines = [f"{name(s.endpoint)}: {name(s.objective)}, {format_ratio(s.attainment)} "
                 f"attained, budget {s.band or 'n/a'}"
                 + (f", burn {s.burn_rate:.1f}x" if s.burn_rate is not None else "")
                 + (f", exhausted by {s.exhausts_at.astimezone(zone):%a %d %b}"
                    if s.exhausts_at else "")
                 for s in shown[:rows * 2]]
        parts.append(("SLOs", lines or [f"{len(digest.slos)} SLOs, none at risk"]))
    if digest.regressions:
        parts.append(("Regressions", [_movement_line(m, zone, name)
                                      for m in digest.regressions[:rows]]))
    if digest.improvements:
        parts.append(("Improvements", [_movement_line(m, zone, name)
                                       for m in digest.improvements[:rows]]))
    if digest.cost:
        c = digest.cost
        change = (format_change(c.total / c.previous_total - 1)
                  if c.previous_total else "n/a")
        lines = [f"total {format_money(c.total, currency)} ({change} on the period before)"
                 + (f", month-end projection {format_money(c.month_projection, currency)}"
                    if c.month_projection is not None else "")]
        lines += [f"{name(line.subject)}: {format_money(line.cost, currency)}"
                  for line in (c.services if manager else c.services + c.endpoints)[:rows * 2]]
        lines += [f"{name(line.subject)}: cost per 1k requests "
                  f"{format_change((line.per_1k or 0) / line.per_1k_previous - 1)}"
                  for line in c.per_request_growth[:rows] if line.per_1k_previous]
        parts.append(("Cost", lines))
    if digest.forecasts:
        lines = []
        coming = [f for f in digest.forecasts if f.crossing]
        for f in coming[:rows * 2]:
            assert f.crossing is not None
            at = f"{f.crossing.astimezone(zone):%a %d %b}"
            when = (f"at or above {format_ratio(f.threshold)} since {at}"
                    if f.crossing <= digest.period.end
                    else f"crosses {format_ratio(f.threshold)} around {at}")
            lines.append(f"{name(f.service)} {f.resource}: {when}"
                         + (f". {name(f.confidence)}" if f.confidence else ""))
        calm = len(digest.forecasts) - len(coming)
        if calm:
            lines.append(f"no saturation in sight for the other {calm} "
                         f"(service, resource) pair{'s' if calm > 1 else ''}")
        parts.append(("Capacity", lines))
    inc = digest.incidents
    if inc.total or inc.still_open:
        lines = [f"{inc.total} opened: "
                 + ", ".join(f"{n} {name(k)}" for k, n in sorted(inc.by_severity.items()))]
        if not manager and inc.by_service:
            lines.append("by service: " + ", ".join(
                f"{name(k)} {n}" for k, n in sorted(inc.by_service.items())))
        if inc.to_acknowledge:
            lines.append(f"to acknowledge: median {inc.to_acknowledge.median}, worst "
                         f"{inc.to_acknowledge.worst} ({name(inc.to_acknowledge.worst_incident)})")
        if inc.to_resolve:
            lines.append(f"to resolve: median {inc.to_resolve.median}, worst "
                         f"{inc.to_resolve.worst} ({name(inc.to_resolve.worst_incident)})")
        lines += [f"recurring: {name(r.title)} ({name(r.service)}) ×{r.count}"
                  for r in inc.recurring[:rows]]
        lines += [f"still open: {name(o.name)} {name(o.title)} ({o.state})"
                  for o in inc.still_open[:rows]]
        lines += [f"on call: {name(load.user)} {load.pages} pages, {load.off_hours} off hours"
                  for load in inc.load[:rows]]
        parts.append(("Incidents", lines))
    if digest.recommendations:
        parts.append(("Recommended", [
            f"{i}. {name(r.subject)}: {name(r.evidence)}; gain {name(r.gain)}"
            + (f"; playbook '{name(r.playbook)}'" if r.playbook else "")
            for i, r in enumerate(digest.recommendations[:rows], start=1)]))
    return parts


def _quiet_lines(digest: Digest, zone: tzinfo, name: Name) -> list[str]:
    requests = next((h for h in digest.headline if h.name == "requests"), None)
    tail = (f": {_value('count', requests.value)} requests, nothing to act on"
            if requests and requests.value is not None else ": nothing to act on")
    return [name(_title(digest, zone)),
            f"A quiet {'week' if digest.period.kind == 'weekly' else 'day'}{tail} "
            "(no incident, regression, SLO at risk or saturation coming)."]


def digest_message(digest: Digest, zone: tzinfo) -> SlackMessage:
    if digest.quiet:
        lines = _quiet_lines(digest, zone, inert)
        return SlackMessage(text=clip("\n".join(lines), MAX_FALLBACK_CHARS),
                            blocks=(section("*" + lines[0] + "*\n" + lines[1]),))
    title = inert(_title(digest, zone))
    blocks: list[dict[str, Any]] = [section(f"*{title}*")]
    for heading, lines in _parts(digest, zone, inert):
        blocks.append(section(f"*{escape(heading)}*\n" + "\n".join(f"• {ln}" for ln in lines)))
    if digest.notes:
        blocks.append(context([inert(n) for n in digest.notes]))
    blocks = blocks[:MAX_BLOCKS]
    validate_blocks(blocks)
    return SlackMessage(text=clip(title, MAX_FALLBACK_CHARS), blocks=tuple(blocks))


def digest_text(digest: Digest, zone: tzinfo) -> str:
    def plain(text: str) -> str:
        return text

    if digest.quiet:
        return "\n".join(_quiet_lines(digest, zone, plain))
    out = [_title(digest, zone)]
    for heading, lines in _parts(digest, zone, plain):
        out += ["", heading, *[f"  - {ln}" for ln in lines]]
    if digest.notes:
        out += ["", "Notes", *[f"  - {n}" for n in digest.notes]]
    return "\n".join(out)


def digest_chart(digest: Digest) -> bytes | None:
    chart = digest.chart
    if chart is None or not chart.lines or not chart.times:
        return None
    label, values = next(iter(chart.lines.items()))
    series = pd.Series(values, index=pd.DatetimeIndex(chart.times))
    formatter: Callable[[float], str] = (format_seconds if chart.unit == "seconds"
                                         else format_ratio if chart.unit == "ratio"
                                         else format_count)
    return timeseries_chart(series, chart.title, formatter, UTC, label=label)
