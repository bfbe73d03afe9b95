"""``perfbot incidents`` in process, on a SQLite file named by ``storage.url``: list, show,
ack, resolve, export, and the bad inputs that change nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path

import pytest

from bot.alerts.message import Action, AlertMessage, Section
from bot.alerts.model import Alert, AlertChart, fingerprint
from bot.analytics.findings.model import Change, ChartData, Severity
from bot.cli import main
from bot.incidents.lifecycle import Incident, State, recover
from bot.incidents.policies import OnCallSettings
from bot.incidents.service import Firing, Incidents
from bot.metrics.base import Signal
from bot.storage import Database
from bot.storage.audit import AuditStore
from bot.storage.incidents import IncidentStore

T0 = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)


def alert(service: str, endpoint: str | None, title: str, *, chart: bool) -> Alert:
    times = [T0 - timedelta(minutes=5 * n) for n in range(12, 0, -1)]
    data = ChartData(times=times, values=[0.2] * 6 + [0.8] * 6, baseline=[0.2] * 12,
                     low=[0.1] * 12, high=[0.3] * 12)
    return Alert(
        id=f"{service}:latency:x", source="detection",
        fingerprint=fingerprint("detection", "latency", service, endpoint),
        service=service, endpoint=endpoint, signal=Signal.LATENCY, severity=Severity.CRITICAL,
        title=title, summary="only latency moved: a slower query",
        labels={"service": service, "endpoint": "GET /api/orders/history"} if endpoint
        else {"service": service},
        starts_at=T0 - timedelta(minutes=30),
        chart=AlertChart(label=f"p95 latency of {service}", change=Change.STEP,
                         start=T0 - timedelta(minutes=30), confirmed_at=T0 - timedelta(minutes=15),
                         data=data) if chart else None,
    )


def message(title: str) -> AlertMessage:
    return AlertMessage(finding_id="x", severity=Severity.CRITICAL, title=f"🔴 CRITICAL: {title}",
                        sections=[
                            Section(title="What", text="• p95 latency: 800 ms vs 200 ms usual"),
                            Section(title="Likely cause", text="a slower query"),
                            Section(title="Evidence", text="latency_ratio=4, after_deploy=True"),
                            Section(title="Playbook: Slow database query or missing index",
                                    text="1. **Find the statement.** `EXPLAIN` it"),
                        ], actions=[Action(id="acknowledge", label="Acknowledge", value="x")])


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """Settings naming a SQLite file that holds three incidents: INC-1 (orders, with a
    chart), INC-2 (payments, resolved on its own) and INC-3 (search, newest)."""
    database = tmp_path / "perfbot.db"
    path = tmp_path / "perfbot.yaml"
    path.write_text(f"storage:\n  url: sqlite:///{database}\nmetrics:\n  demo_days: 2\n")
    store = IncidentStore(Database(f"sqlite:///{database}"))
    incidents = Incidents(store=store, oncall=OnCallSettings(), default_channel="#incidents",
                          reopen_within=timedelta(hours=1))
    for n, (service, endpoint) in enumerate((("orders", "orders GET /api/orders/history"),
                                             ("payments", None), ("search", None))):
        title = f"p95 latency of {service} stepped up"
        incidents.fire(Firing(alert=alert(service, endpoint, title, chart=service == "orders"),
                              message=message(title)), T0 + timedelta(minutes=n))
    resolved = store.change(2, lambda i: recover(i, T0 + timedelta(minutes=20),
                                                 "p95 at 210 ms, usual 200 ms"))
    assert isinstance(resolved, Incident) and resolved.state is State.RESOLVED
    return path


def run(*argv: str) -> tuple[int, str]:
    out = StringIO()
    return main(["incidents", *argv], out=out), out.getvalue()


def store_of(config: Path) -> IncidentStore:
    return IncidentStore(Database(f"sqlite:///{config.parent / 'perfbot.db'}"))


def test_list_shows_the_open_ones_newest_first_and_all_with_resolved(config: Path) -> None:
    code, text = run("list", "--config", str(config))
    assert code == 0
    assert [line.split()[0] for line in text.splitlines()[2:]] == ["INC-3", "INC-1"]
    code, text = run("list", "--all", "--config", str(config))
    assert code == 0
    assert [line.split()[0] for line in text.splitlines()[2:]] == ["INC-3", "INC-2", "INC-1"]
    assert "resolved" in text


def test_show_prints_the_incident_its_timeline_and_its_outbox(config: Path) -> None:
    code, text = run("show", "INC-2", "--config", str(config))
    assert code == 0
    assert text.startswith("INC-2 · critical · resolved\n")
    assert "recovered on its own after 19m: p95 at 210 ms, usual 200 ms" in text
    assert "Slack message: not posted yet" in text
    timeline, outbox = text.split("\nTimeline:\n")[1].split("\nOutbox:\n")
    assert "opened" in timeline and "resolved" in timeline
    assert "INC-2:post" in outbox and "waiting" in outbox


def test_ack_and_resolve_act_on_the_stored_incident_and_are_audited(config: Path) -> None:
    code, text = run("ack", "inc-1", "--user", "U024BE7LH", "--config", str(config))
    assert code == 0 and text.startswith("INC-1 acknowledged by U024BE7LH")
    store = store_of(config)
    incident = store.get(1)
    assert incident is not None and incident.state is State.ACKNOWLEDGED
    assert incident.acknowledged_by == "U024BE7LH"
    assert any(o.effect.kind == "update" for o in store.outbox(1))  # the message follows

    code, text = run("resolve", "1", "--user", "ana", "--config", str(config))
    assert code == 0 and text.startswith("INC-1 resolved by ana")
    incident = store.get(1)
    assert incident is not None and incident.state is State.RESOLVED
    assert incident.resolved_by == "ana"
    audit = AuditStore(store.database).recent(target="INC-1")
    assert [(r.action, r.user, r.allowed) for r in audit] == [
        ("resolve", "ana", True), ("acknowledge", "U024BE7LH", True)]
    assert [e.kind for e in store.timeline(1)][-2:] == ["acknowledge", "resolve"]


def test_a_refused_act_says_why_and_changes_nothing(
    config: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    before = store_of(config).get(2)
    code, _ = run("ack", "INC-2", "--user", "ana", "--config", str(config))
    assert code == 1
    assert "INC-2 is already resolved" in capsys.readouterr().err
    store = store_of(config)
    assert store.get(2) == before
    assert AuditStore(store.database).recent() == []


def test_export_writes_a_markdown_postmortem_with_its_chart(config: Path) -> None:
    run("ack", "INC-1", "--user", "ana", "--config", str(config))
    target = config.parent / "out" / "inc-1.md"
    target.parent.mkdir()
    code, text = run("export", "INC-1", "-o", str(target), "--config", str(config))
    assert code == 0
    chart = target.parent / "inc-1-chart.png"
    assert text.strip() == f"wrote {target} and {chart}"
    assert chart.read_bytes().startswith(b"\x89PNG")
    markdown = target.read_text()
    assert markdown.startswith("# INC-1: p95 latency of orders stepped up\n")
    for heading in ("## Summary", "## Timeline", "## Chart", "## Evidence", "## Playbook"):
        assert f"\n{heading}\n" in markdown
    assert "![p95 latency of orders](inc-1-chart.png)" in markdown
    assert "| Time to acknowledge |" in markdown and "| Time to resolve | still open |" in markdown
    assert "latency_ratio=4, after_deploy=True" in markdown
    assert "**Slow database query or missing index**" in markdown
    assert "- p95 latency: 800 ms vs 200 ms usual" in markdown
    assert "| acknowledge | ana | acknowledged |" in markdown

    # Without a chart, none is written; the default name is INC-<id>.md in the current folder.
    code, text = run("export", "2", "-o", str(config.parent / "INC-2.md"), "--config",
                     str(config))
    assert code == 0 and text.strip() == f"wrote {config.parent / 'INC-2.md'}"
    written = (config.parent / "INC-2.md").read_text()
    assert "The alert carried no chart." in written
    assert "| Time to acknowledge | not acknowledged (it recovered on its own) |" in written
    assert "| Time to resolve | 19m |" in written


@pytest.mark.parametrize(("argv", "code", "says"), [
    (["show", "INC-x"], 2, "expected an incident id like INC-42 or 42, got 'INC-x'"),
    (["ack", "forty-two", "--user", "ana"], 2, "expected an incident id"),
    (["show", "INC-42"], 1, "there is no incident INC-42"),
    (["resolve", "42", "--user", "ana"], 1, "there is no incident INC-42"),
    (["export", "7"], 1, "there is no incident INC-7"),
    (["ack", "1", "--user", " "], 2, "--user: expected who you are"),
    (["ack", "1", "--user", "x" * 65], 1, "the table keeps at most 64"),
    (["list", "--limit", "0"], 2, "--limit: expected 1 or more"),
])
def test_bad_input_gets_one_line_and_changes_nothing(
    config: Path, capsys: pytest.CaptureFixture[str], argv: list[str], code: int, says: str,
) -> None:
    before = config.with_name("perfbot.db").read_bytes()
    assert run(*argv, "--config", str(config))[0] == code
    err = capsys.readouterr().err
    assert err.startswith("perfbot: ") and says in err and err.count("\n") == 1
    assert config.with_name("perfbot.db").read_bytes() == before


def test_an_export_that_cannot_be_written_leaves_nothing_behind(
    config: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    folder = config.parent / "postmortems"
    folder.mkdir()
    (folder / "inc.md").mkdir()  # a folder where the markdown should go
    assert run("export", "1", "-o", str(folder / "inc.md"), "--config", str(config))[0] == 1
    assert "cannot write" in capsys.readouterr().err
    assert sorted(p.name for p in folder.iterdir()) == ["inc.md"]


def test_a_database_that_is_missing_or_cannot_be_opened(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    missing = tmp_path / "nowhere.db"
    config = tmp_path / "perfbot.yaml"
    config.write_text(f"storage:\n  url: sqlite:///{missing}\nmetrics:\n  demo_days: 2\n")
    assert run("list", "--config", str(config))[0] == 1
    err = capsys.readouterr().err
    assert err == (f"perfbot: no database at {missing} (storage.url 'sqlite:///{missing}'); "
                   "perfbot run creates it\n")
    assert not missing.exists()

    missing.write_bytes(b"not a database, just bytes " * 40)
    assert run("show", "1", "--config", str(config))[0] == 1
    err = capsys.readouterr().err
    assert err.startswith(f"perfbot: cannot open the database at 'sqlite:///{missing}': ")
    assert err.count("\n") == 1
    assert missing.read_bytes() == b"not a database, just bytes " * 40
