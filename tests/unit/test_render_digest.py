"""The digest's Slack message and text: Slack's limits, escaped labels, quiet digests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.digests.model import (
    CostLine,
    CostSection,
    Digest,
    DigestChart,
    Headline,
    IncidentSummary,
    Movement,
    OpenIncident,
    Period,
    Recommendation,
    Recurring,
    SloLine,
)
from bot.render.blocks import MAX_BLOCKS, MAX_SECTION_CHARS, validate_blocks
from bot.render.digest import digest_chart, digest_message, digest_text

END = datetime(2026, 12, 3, 6, 0, tzinfo=UTC)
PERIOD = Period(kind="weekly", start=END - timedelta(days=7), end=END)
HOSTILE = "GET /api/`x`/<!channel>/*{n}*"


def _busy(endpoints: int, audience: str) -> Digest:
    names = [HOSTILE.replace("{n}", str(n)) for n in range(endpoints)]
    moves = tuple(Movement(endpoint=n, service="<!here>", measure="p95", unit="seconds",
                           old=0.2, new=0.6, p_value=0.001, effect=0.5, since=END,
                           cause="orders `4.2.0` <!channel>", playbook="Slow *query*")
                  for n in names)
    return Digest(
        period=PERIOD, audience=audience,  # type: ignore[arg-type]
        headline=(Headline(name="requests", unit="count", value=1e6, previous=9e5,
                           spark=(1.0, 2.0, 3.0)),),
        slos=tuple(SloLine(endpoint=n, service="s", objective="99% <!channel>",
                           attainment=0.9, target=0.99, budget_remaining=-1.0,
                           band="exhausted", burn_rate=3.0) for n in names),
        regressions=moves, improvements=moves,
        cost=CostSection(currency="USD", total=100, previous_total=90, month_projection=400,
                         services=tuple(CostLine(subject=n, cost=1) for n in names),
                         endpoints=tuple(CostLine(subject=n, cost=1) for n in names),
                         per_request_growth=tuple(CostLine(subject=n, cost=1, per_1k=2,
                                                           per_1k_previous=1)
                                                  for n in names)),
        incidents=IncidentSummary(
            total=endpoints, by_severity={"critical": endpoints},
            by_service={n: 1 for n in names},
            recurring=tuple(Recurring(title=n, service="s", count=2) for n in names),
            still_open=tuple(OpenIncident(name="INC-1", title=n, state="triggered", since=END)
                             for n in names)),
        recommendations=tuple(Recommendation(subject=n, evidence="p95 up `200%`",
                                             gain="<!channel>", playbook="x") for n in names),
        notes=tuple(f"note <!channel> {n}" for n in range(endpoints)))


def _all_text(blocks: tuple[dict[str, object], ...]) -> str:
    return repr(blocks)


def test_200_hostile_endpoints_stay_within_slacks_limits_and_are_inert() -> None:
    for audience in ("team", "manager"):
        message = digest_message(_busy(200, audience), UTC)
        validate_blocks(message.blocks)
        assert len(message.blocks) <= MAX_BLOCKS
        for block in message.blocks:
            if block["type"] == "section":
                assert len(block["text"]["text"]) <= MAX_SECTION_CHARS  # type: ignore[index]
        text = _all_text(message.blocks)
        assert "<!channel>" not in text and "<!here>" not in text and "`" not in text
        assert "&lt;!channel&gt;" in text


def test_manager_digest_is_shorter_than_the_team_digest() -> None:
    team = digest_message(_busy(20, "team"), UTC)
    manager = digest_message(_busy(20, "manager"), UTC)
    assert len(_all_text(manager.blocks)) < len(_all_text(team.blocks))


def test_a_quiet_digest_is_two_lines() -> None:
    quiet = Digest(period=PERIOD, headline=(Headline(name="requests", unit="count",
                                                     value=1234.0, previous=1200.0),))
    assert quiet.quiet
    message = digest_message(quiet, UTC)
    assert len(message.blocks) == 1
    assert message.blocks[0]["text"]["text"].count("\n") == 1  # type: ignore[index]
    assert len(digest_text(quiet, UTC).splitlines()) == 2


def test_terminal_text_names_the_regression_and_its_playbook() -> None:
    text = digest_text(_busy(1, "team"), UTC)
    assert "Regressions" in text and "Slow *query*" in text and "up 200%" in text


def test_the_chart_is_a_png() -> None:
    times = tuple(END - timedelta(hours=h) for h in range(24, 0, -1))
    digest = Digest(period=PERIOD, chart=DigestChart(
        title="p95", unit="seconds", times=times, lines={"GET /x": tuple(0.1 * i for i in
                                                                         range(24))}))
    png = digest_chart(digest)
    assert png is not None and png.startswith(b"\x89PNG")
    assert digest_chart(Digest(period=PERIOD)) is None
