"""An alert for one finding, transport-neutral (``AlertMessage``) and as terminal text. Pure."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from datetime import datetime, tzinfo

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from bot.alerts.acts import BUTTONS, RULES
from bot.alerts.explained import Explained
from bot.alerts.message import Action, AlertMessage, Section
from bot.alerts.model import AlertChart
from bot.analytics.findings.model import Anomaly, Severity
from bot.durations import format_duration
from bot.metrics.base import Signal
from bot.playbooks.diagnostics import DiagnosticResult, format_unit
from bot.playbooks.rendering import render_steps
from bot.render.charts import literal_text
from bot.render.mrkdwn import clip, inert

SECTION_LIMIT = 3000  # Slack's limit for a section's text
_EMOJI = {Severity.CRITICAL: "🔴", Severity.WARNING: "🟠", Severity.INFO: "🔵"}


def _fmt(signal: Signal, value: float) -> str:
    if not math.isfinite(value):
        return "n/a"
    if signal is Signal.LATENCY:
        return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"
    if signal is Signal.THROUGHPUT:
        return f"{value:.3g} req/s"
    return f"{value:.1%}"


def _when(t: datetime, tz: tzinfo) -> str:
    return t.astimezone(tz).strftime("%a %d %b %H:%M %Z")


def _anomaly_line(a: Anomaly, tz: tzinfo) -> str:
    state = "ongoing" if a.end is None else f"ended {_when(a.end, tz)}"
    ratio = f"{a.ratio:.1f}×" if math.isfinite(a.ratio) else "from zero"
    line = (f"• {inert(a.key.label)}: {a.change} since {_when(a.start, tz)} — "
            f"{_fmt(a.key.signal, a.value)} vs {_fmt(a.key.signal, a.baseline)} usual "
            f"({ratio}, {a.z:.0f} spreads out), {state}")
    return line + (f"; {inert(a.slo)}" if a.slo else "")


def diagnostic_lines(results: Sequence[DiagnosticResult], top: int = 3) -> list[str]:
    """One line per diagnostic with numbers (its top series by label); the ones without
    numbers share a line per reason, so a backend that cannot run any says it once."""
    lines = []
    unanswered: dict[str, list[str]] = {}
    for r in results:
        if not r.values:
            unanswered.setdefault(r.note or "no data", []).append(r.name)
            continue
        shown = []
        for v in r.values[:top]:
            labels = ", ".join(f"{k}={val}" for k, val in sorted(v.labels.items())
                               if k != "__name__")
            shown.append(format_unit(v.value, r.unit) + (f" {{{labels}}}" if labels else ""))
        more = f" (+{len(r.values) - top} more)" if len(r.values) > top else ""
        lines.append(inert(f"• {r.name}: {'; '.join(shown)}{more}"))
    for note, names in unanswered.items():
        lines.append(inert(f"• {', '.join(names)}: {note}"))
    return lines


def _clip(text: str) -> str:
    return clip(text, SECTION_LIMIT)


def build_alert(item: Explained, tz: tzinfo, *, chart: bool = True) -> AlertMessage:
    """The alert for one explained finding."""
    f = item.finding
    what = [_anomaly_line(a, tz) for a in f.anomalies]
    sections = [
        Section(title="What", text=_clip("\n".join(what))),
        Section(title="Where and since when", text=_clip(
            f"service {inert(f.service)}, since {_when(f.start, tz)}"
            + (" (ongoing)" if f.end is None else f", until {_when(f.end, tz)}")
            + f"; {inert(f.moved_first())}")),
        Section(title="Likely cause", text=_clip(inert(item.cause))),
    ]
    evidence = []
    if item.situation.evidence:
        evidence.append(inert(", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                                         for k, v in item.situation.evidence.items())))
    evidence += diagnostic_lines(item.results)
    evidence += [inert(f"unknown (no data): {', '.join(m.unknown)}") for m in item.matches[:1]
                 if m.unknown]  # the top playbook's conditions on missing evidence
    if evidence:
        sections.append(Section(title="Evidence", text=_clip("\n".join(evidence))))
    if item.matches:
        top = item.matches[0]
        steps = render_steps(top.playbook, item.situation)
        sections.append(Section(title=f"Playbook: {inert(top.playbook.title)}",
                                text=_clip(steps.strip())))
        if item.diagnostics:
            lines = [f"• {inert(d.name)}: `{inert(d.query)}`" if d.query else
                     f"• {inert(d.name)}: {inert(d.note)}" for d in item.diagnostics]
            sections.append(Section(title="Diagnostics", text=_clip("\n".join(lines))))
        others = [inert(m.playbook.title) for m in item.matches[1:]]
        if others:
            sections.append(Section(title="Other candidate playbooks",
                                    text=_clip(", ".join(others))))
    drawn = item.alert().chart
    png = alert_chart(drawn, tz) if chart and drawn is not None else None
    return AlertMessage(
        finding_id=f.id, severity=f.severity,
        title=f"{_EMOJI[f.severity]} {f.severity.upper()}: {inert(f.title)}",
        sections=sections, actions=actions(f.id), chart_png=png,
    )


def actions(alert_id: str) -> list[Action]:
    return [Action(id=act.value, label=RULES[act].label, value=alert_id) for act in BUTTONS]


def alert_text(message: AlertMessage) -> str:
    """The alert for a terminal."""
    lines = [message.title]
    for section in message.sections:
        lines.append(f"  {section.title}:")
        lines += [f"    {line}" for line in section.text.splitlines()]
    lines.append("  Actions: " + " · ".join(f"[{a.label}]" for a in message.actions))
    return "\n".join(lines)


# Each signal's y-axis: its name and unit, and the factor from the stored value (seconds,
# requests per second, a share 0..1) to that unit.
AXES: dict[Signal, tuple[str, float]] = {
    Signal.LATENCY: ("latency (ms)", 1000.0),
    Signal.THROUGHPUT: ("throughput (req/s)", 1.0),
    Signal.ERROR_RATIO: ("error ratio (%)", 100.0),
    Signal.CPU: ("CPU (% of the limit)", 100.0),
    Signal.MEMORY: ("memory (% of the limit)", 100.0),
}


@literal_text
def alert_chart(chart: AlertChart, tz: tzinfo) -> bytes:
    """The series around the change with its baseline and ±3-spread band, as PNG."""
    figure = alert_figure(chart, tz)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def alert_figure(chart: AlertChart, tz: tzinfo) -> Figure:
    """``alert_chart``'s figure, open (the caller closes it)."""
    data = chart.data
    name, factor = AXES[chart.signal] if chart.signal is not None else ("", 1.0)

    def scaled(values: Sequence[float]) -> list[float]:
        return [v * factor for v in values]

    figure, axes = plt.subplots(figsize=(8.0, 4.0))
    times = mdates.date2num(data.times)  # type: ignore[no-untyped-call]
    axes.fill_between(times, scaled(data.low), scaled(data.high), color="#8b949e", alpha=0.25,
                      label="usual range")
    axes.plot(times, scaled(data.baseline), color="#8b949e", linestyle="--", label="baseline")
    axes.plot(times, scaled(data.values), color="#1f6feb", label=chart.label)
    onset = float(mdates.date2num(chart.start))  # type: ignore[no-untyped-call]
    axes.axvline(onset, color="#d1242f", linestyle=":", label="change")
    axes.set_title(f"{chart.label}: {chart.change} "
                   f"(+{format_duration(chart.confirmed_at - chart.start)} to confirm)")
    axes.set_ylabel(name)
    axes.xaxis.set_major_formatter(
        mdates.DateFormatter("%d %b %H:%M", tz=tz))  # type: ignore[no-untyped-call]
    axes.legend(loc="upper left", fontsize="small")
    figure.autofmt_xdate()
    return figure
