"""Every text that came from the metrics is inert in every message the bot renders.

Hostile label values (backtick runs, ``<!channel>``, ``<@U…>``, links, entities, markup
characters, line breaks, unicode, long strings) are put in every place a label goes (service,
route, endpoint, title, cause, silence, policy, schedule, timeline text…) and the messages are
rendered by the real, pure renderers. Every mrkdwn and plain text of the blocks, and the
fallback ``text`` Slack shows in notifications, is then checked:

* every ``<`` is one the bot wrote on purpose: a date token, a mention of a configured on-call
  user, the configured user group, the incident's channel, the message's permalink;
* code fences are balanced, and the number of backticks, stars, ``<`` and line breaks does
  not depend on the labels: rendered again with the harmless label ``x`` in the same places,
  the counts are the same, so none of them came from a label (nor a line that looks like the
  bot's own).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.alerts.acts import Act
from bot.alerts.explained import Explained
from bot.alerts.model import AlertChart
from bot.analytics.findings.model import Anomaly, Change, ChartData, Finding, SeriesKey, Severity
from bot.digests.model import (
    CostLine,
    CostSection,
    Digest,
    Headline,
    IncidentSummary,
    Movement,
    OpenIncident,
    Period,
    Recommendation,
    Recurring,
    Scope,
    SloLine,
)
from bot.digests.service import Subscription
from bot.incidents import lifecycle
from bot.incidents.escalation import Notify
from bot.incidents.lifecycle import Entry, Incident, State, act, open_incident, recover
from bot.metrics.base import Endpoint, SeriesValue, Signal
from bot.playbooks.diagnostics import DiagnosticResult
from bot.playbooks.matching import Situation
from bot.playbooks.rendering import RenderedDiagnostic
from bot.render.alert import alert_chart, build_alert
from bot.render.blocks import SlackMessage, answer_message, validate_blocks
from bot.render.charts import bar_chart, timeseries_chart
from bot.render.digest import digest_message
from bot.render.incident import (
    incident_message,
    page_line,
    page_message,
    reply_text,
    storm_message,
)
from bot.render.incident_lists import incident_timeline, incidents_list
from bot.render.message import Answer, AnswerKind, Table
from bot.render.mrkdwn import clip
from bot.render.postmortem import postmortem
from bot.render.text import format_seconds
from bot.slack.app import home_view
from bot.slack.digest_commands import describe

AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
ON_CALL = ("UONCALL1", "UONCALL2")
GROUP = "S0SRE"
CHANNEL = "C0ALERTS"
PERMALINK = "https://example.slack.com/archives/C0ALERTS/p1700000000000100"
# What the bot writes on purpose: nothing else may open with "<".
BOT_TOKEN = re.compile(
    r"<(?:@UONCALL\d|#C0ALERTS|!subteam\^S0SRE|!date\^\d+\^[^|<>]*\|[^<>]*"
    r"|https://example\.slack\.com/archives/C0ALERTS/p\d+\|Open its message)>")

PIECES = ["`", "``", "```", "<!channel>", "<!here>", "<!everyone>", "<!subteam^S1>",
          "<@U123>", "<@U999|bob>", "<#C999>", "<http://x|y>", "<mailto:a@b.c>", "&",
          "&lt;!here&gt;", "&amp;", "<", ">", "|", "*", "_", "~", "\n", "\r\n", " ", "é",
          "🔥", "\u202e", "\u200b", "{x}", "/", "\n# ", "\n## ", "\n| a |", "\n---\n",
          "\u2028", "\n• *INC-9* resolved", "[a](http://e.example)", "](http://e.example/x.png",
          "![", "\n- "]
LABELS = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=4)),
                  min_size=1, max_size=12).map("".join).filter(lambda text: text.strip())
LONG = st.tuples(LABELS, st.integers(min_value=200, max_value=400)).map(
    lambda pair: (pair[0] * pair[1])[:6000])
SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


# --- walking a message ------------------------------------------------------------------


def texts(blocks: Iterable[Any]) -> Iterator[str]:
    """Every text Slack reads in blocks: mrkdwn and plain text objects, wherever they are."""
    for block in blocks:
        if isinstance(block, dict):
            if block.get("type") in ("mrkdwn", "plain_text") and isinstance(block.get("text"),
                                                                            str):
                yield block["text"]
            yield from texts(block.values())
        elif isinstance(block, list | tuple):
            yield from texts(block)


def message_texts(message: SlackMessage) -> list[str]:
    return [message.text, *texts(message.blocks)]


def stray(text: str) -> str | None:
    """The first ``<`` the bot did not write on purpose, with what follows, if any."""
    rest = BOT_TOKEN.sub("", text)
    at = rest.find("<")
    return rest[at:at + 40] if at >= 0 else None


def assert_inert(rendered: list[str]) -> None:
    for text in rendered:
        assert stray(text) is None, f"a live control sequence {stray(text)!r} in {text!r}"
        assert text.count("```") % 2 == 0, f"an unbalanced code fence in {text!r}"


def assert_labels_add_no_markup(hostile: list[str], benign: list[str]) -> None:
    """The bot's own markup, and its lines, are the same whatever the labels say."""
    for mark in ("`", "*", "<", "\n"):
        assert sum(t.count(mark) for t in hostile) == sum(t.count(mark) for t in benign), (
            f"a label added {mark!r}: {hostile!r}")


def check(render: Callable[[str, str], list[str]], a: str, b: str) -> None:
    hostile = render(a, b)
    assert_inert(hostile)
    assert_labels_add_no_markup(hostile, render("x", "y"))


# --- answers -----------------------------------------------------------------------------


def answer(a: str, b: str) -> Answer:
    return Answer(
        kind=AnswerKind.ANSWER, headline=f"p95 of GET {a} ({b}), last 24h: 182 ms",
        table=Table(headers=("endpoint", "service", "p95"),
                    rows=((f"GET {a}", b, "182 ms"), (f"POST {b}", a, "1.20 s")),
                    numeric=(2,)),
        sparkline="▁▂▃▅▇", notes=(f"{a} has no SLO", f"{b}: 3 of 1440 minutes empty"),
        examples=(f"p95 of {a} last 7 days", f"errors on {b}"))


def render_answer(a: str, b: str) -> list[str]:
    return message_texts(answer_message(answer(a, b)))


@SETTINGS
@given(LABELS, LABELS)
def test_answers_tables_headlines_and_notes_are_inert(a: str, b: str) -> None:
    check(render_answer, a, b)


@SETTINGS
@given(LONG, LABELS)
def test_long_labels_keep_the_answer_valid_and_inert(a: str, b: str) -> None:
    message = answer_message(answer(a, b))
    validate_blocks(message.blocks)
    assert_inert(message_texts(message))


def test_a_route_that_closes_the_code_block_and_pings_everyone_does_neither() -> None:
    """The audit's case: the label ends the table's code block and mentions live."""
    texts_ = render_answer("/x```<!channel><@U999>", "orders")
    table = next(t for t in texts_ if t.startswith("```"))
    assert table.count("```") == 2 and table.endswith("```")
    assert "<!channel>" not in table and "<@U999>" not in table
    assert "/xˋˋˋ&lt;!channel&gt;&lt;@U999&gt;" in table
    assert "<!" not in texts_[0] and "<@" not in texts_[0]  # the notification text


# --- alerts and incidents ----------------------------------------------------------------


def explained(a: str, b: str) -> Explained:
    chart = ChartData(times=[AT], values=[0.9], baseline=[0.2], low=[0.1], high=[0.3])
    anomaly = Anomaly(key=SeriesKey(signal=Signal.LATENCY, service=a, endpoint=f"GET /{b}"),
                      change=Change.STEP, start=AT, fired_at=AT + timedelta(minutes=10),
                      peak_at=AT, end=None, value=0.9, baseline=0.2, z=40, onset_score=0.8,
                      severity=Severity.CRITICAL, slo=f"SLO of {b} at risk", chart=chart)
    finding = Finding(id="f-1", service=a, severity=Severity.CRITICAL, change=Change.STEP,
                      start=AT, end=None, anomalies=[anomaly])
    situation = Situation(signal=Signal.LATENCY, service=a,
                          endpoint=Endpoint(service=a, method="GET", route=f"/{b}"),
                          evidence={"after_deploy": True, "latency_p95": 0.9}, at=AT)
    query = f'sum(rate(http_requests_total{{route="/{b}"}}[5m]))'
    return Explained(
        finding=finding, situation=situation, cause=f"a deploy of {a} at 11:50", matches=[],
        diagnostics=[RenderedDiagnostic(name=f"slow {b}", description="", unit="seconds",
                                        query=query)],
        results=[DiagnosticResult(name=f"top {a}", description=b, unit="seconds", query=query,
                                  values=[SeriesValue(labels={"route": b}, value=0.5)])])


def incident(a: str, b: str) -> Incident:
    item = explained(a, b)
    return open_incident(7, item.alert(), build_alert(item, UTC, chart=False), channel=CHANNEL,
                         policy=None, urgency="high", silenced="", now=AT).incident


def states(a: str, b: str) -> list[Incident]:
    """The incident as each state shows it, with labels wherever people or metrics wrote."""
    opened = incident(a, b)
    return [
        opened.model_copy(update={"policy": b, "level": 1, "silenced": a}),
        opened.model_copy(update={"state": State.ACKNOWLEDGED, "acknowledged_by": a,
                                  "acknowledged_at": AT, "reopened": 2}),
        opened.model_copy(update={"state": State.ACKNOWLEDGED, "snoozed_by": b,
                                  "snoozed_until": AT + timedelta(hours=1)}),
        recover(opened, AT + timedelta(minutes=40), f"{b} back to {a}").incident,
        opened.model_copy(update={"state": State.RESOLVED, "resolved_at": AT,
                                  "resolved_by": b, "channel": f"C1><!channel>{a}"}),
    ]


def render_incidents(a: str, b: str) -> list[str]:
    shown = states(a, b)
    out: list[str] = []
    for one in shown:
        out += message_texts(incident_message(one, UTC, paged="step 1, pass 1: <@UONCALL1>"))
    page = Notify(key="k", incident="INC-7", kind="schedule", step=0, pass_number=0, due=AT,
                  users=ON_CALL, group=GROUP, schedule=b)
    nobody = page.model_copy(update={"users": (), "group": None})
    reminder = page.model_copy(update={"kind": "reminder"})
    for one in shown[:2]:
        for note in (page, reminder):
            out += message_texts(page_message(one, note, PERMALINK, zone=UTC))
            out += message_texts(page_message(one, note, None, zone=UTC))
        out += [page_line(one, note, threaded=True) for note in (page, nobody, reminder)]
    out += message_texts(storm_message(shown))
    out += message_texts(incidents_list(shown, UTC, now=AT + timedelta(minutes=5)))
    # Thread replies and timeline lines as the lifecycle words them, labels and mentions mixed.
    opened = open_incident(7, incident(a, b).alert, incident(a, b).message, channel=CHANNEL,
                           policy=None, urgency="high", silenced=a, now=AT)
    changes = [opened, recover(opened.incident, AT + timedelta(minutes=40), f"{b} back to {a}")]
    done = act(opened.incident, Act.RESOLVE, "UONCALL2", AT, policy=None)
    assert isinstance(done, lifecycle.Change)
    changes.append(done)
    entries = [entry for change in changes for entry in change.timeline]
    entries.append(Entry(at=AT, kind="acknowledged", user=b))
    for change in changes:
        out += [reply_text(change.incident, effect.text, threaded=True)
                for effect in change.effects if effect.kind == "reply"]
        out += message_texts(incident_timeline(change.incident, entries, UTC))
    return out


@SETTINGS
@given(LABELS, LABELS)
def test_alerts_incidents_pages_threads_storms_and_lists_are_inert(a: str, b: str) -> None:
    check(render_incidents, a, b)


@SETTINGS
@given(LONG, LONG)
def test_long_labels_keep_incident_messages_valid_and_inert(a: str, b: str) -> None:
    assert_inert(render_incidents(a, b))


# --- App Home, digests, postmortems ------------------------------------------------------


def render_home(a: str, b: str) -> list[str]:
    help_reply = Answer(kind=AnswerKind.HELP, headline="Ask me", examples=(
        f"p95 of {a} last 24h", f"errors on {b}"))
    sub = Subscription(key="k", channel=CHANNEL, when="daily 09:00 UTC", service=a,
                       created_by="UONCALL1", created_at=AT)
    view = home_view(help_reply, ON_CALL, states(a, b)[:2], UTC, subscriptions=[describe(sub)])
    return list(texts(view["blocks"]))


@SETTINGS
@given(LABELS, LABELS)
def test_app_home_is_inert(a: str, b: str) -> None:
    check(render_home, a, b)


def digest(a: str, b: str, *, quiet: bool = False) -> Digest:
    end = datetime(2026, 12, 3, 6, 0, tzinfo=UTC)
    period = Period(kind="daily", start=end - timedelta(days=1), end=end)
    if quiet:
        return Digest(period=period, audience="team", scope=Scope(team=a))
    move = Movement(endpoint=a, service=b, measure="p95", unit="seconds", old=0.2, new=0.6,
                    p_value=0.001, effect=0.5, since=end, cause=b, playbook=a)
    return Digest(
        period=period, audience="team", scope=Scope(service=b),
        headline=(Headline(name="requests", unit="count", value=1e6, previous=9e5),),
        slos=(SloLine(endpoint=a, service=b, objective=f"99% of {b}", attainment=0.9,
                      target=0.99, budget_remaining=-1.0, band="exhausted", burn_rate=3.0),),
        regressions=(move,), improvements=(move,),
        cost=CostSection(currency="USD", total=100, previous_total=90, month_projection=400,
                         services=(CostLine(subject=b, cost=1),),
                         endpoints=(CostLine(subject=a, cost=1),),
                         per_request_growth=(CostLine(subject=a, cost=1, per_1k=2,
                                                      per_1k_previous=1),)),
        incidents=IncidentSummary(
            total=1, by_severity={"critical": 1}, by_service={b: 1},
            recurring=(Recurring(title=a, service=b, count=2),),
            still_open=(OpenIncident(name="INC-1", title=a, state="triggered", since=end),)),
        recommendations=(Recommendation(subject=a, evidence=b, gain=a, playbook=b),),
        notes=(f"{a} had no data",))


def render_digests(a: str, b: str) -> list[str]:
    return [*message_texts(digest_message(digest(a, b), UTC)),
            *message_texts(digest_message(digest(a, b, quiet=True), UTC))]


@SETTINGS
@given(LABELS, LABELS)
def test_digests_and_their_fallback_text_are_inert(a: str, b: str) -> None:
    check(render_digests, a, b)


HEADINGS = {"## Summary", "## Timeline", "## Chart", "## Evidence", "## Playbook"}


@SETTINGS
@given(LABELS, LABELS)
def test_a_label_starts_no_line_of_its_own_in_a_postmortem(a: str, b: str) -> None:
    """Markdown, not Slack: a label may not add a heading or a table row to the file."""
    opened = open_incident(7, incident(a, b).alert, incident(a, b).message, channel=CHANNEL,
                           policy=None, urgency="high", silenced=b, now=AT)
    recovered = recover(opened.incident, AT + timedelta(minutes=40), f"{b} back to {a}")
    entries = [*opened.timeline, Entry(at=AT, kind="acknowledged", user=b),
               *recovered.timeline]
    lines = postmortem(recovered.incident, entries, UTC).splitlines()
    assert lines[0].startswith("# INC-7: ")
    assert [line for line in lines[1:] if line.startswith("#")] == [
        h for h in ("## Summary", "## Timeline", "## Chart", "## Evidence", "## Playbook")]
    rows = [line for line in lines if line.startswith("|")]
    # The facts table (two columns) and the timeline (four): no row split by a label.
    assert all(len(re.findall(r"(?<!\\)\|", row)) in (3, 5) for row in rows), rows
    # No link or image but the chart's, no Slack token turned into a link.
    links = [line for line in lines if re.search(r"(?<!\\)\]\(", line)]
    assert links == [], links


# --- charts ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["GET /a_$^$", "GET /price/$\\frac$", "/x```<!channel> $"])
def test_a_name_matplotlib_would_read_as_mathtext_still_gets_its_chart(name: str) -> None:
    """The chart's title, legend and bars say the name as written, and are drawn."""
    times = pd.date_range(AT - timedelta(hours=2), AT, freq="10min")
    series = pd.Series([0.2] * len(times), index=times)
    png = b"\x89PNG"
    assert timeseries_chart(series, f"p95 of {name}", format_seconds, UTC,
                            label=name).startswith(png)
    assert bar_chart([name, "GET /ok"], [0.9, 0.2], f"p95 by endpoint: {name}",
                     format_seconds).startswith(png)
    chart = AlertChart(label=name, change=Change.STEP, start=AT - timedelta(hours=1),
                       confirmed_at=AT, data=ChartData(
                           times=list(times), values=[0.2] * len(times),
                           baseline=[0.2] * len(times), low=[0.1] * len(times),
                           high=[0.3] * len(times)))
    assert alert_chart(chart, UTC).startswith(png)


@pytest.mark.parametrize(("text", "limit", "clipped"), [
    ("opened <!date^1^{ago}|5m ago> in <#C0ALERTS>", 40, "opened <!date^1^{ago}|5m ago> in …"),
    ("see <https://a.example/long|here> now", 25, "see …"),
    ("by <@UONCALL1> at noon", 10, "by …"),
    ("x &amp; y", 5, "x …"),
    ("p95 < 500 ms, not more than that", 20, "p95 < 500 ms, not m…"),  # a plain "<" is text
])
def test_clip_never_leaves_half_a_token(text: str, limit: int, clipped: str) -> None:
    assert clip(text, limit) == clipped
