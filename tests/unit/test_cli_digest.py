"""``perfbot digest`` on the demo: the period it prints ends at the demo's held data time
(or --at), for the scope asked."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from bot.cli import main
from bot.render import digest as render_digest


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(["digest", *argv], out=out), out.getvalue()


@pytest.fixture(autouse=True)
def _demo(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no ./perfbot.yaml: the built-in demo
    monkeypatch.delenv("PERFBOT_CONFIG", raising=False)
    # What the command asked for, not how the (separately tested) renderer words it
    # (the command imports the renderer when it runs: patched where it lives).
    monkeypatch.setattr(render_digest, "digest_text", lambda digest, zone: (
        f"{digest.period.kind} {digest.period.start.isoformat()} "
        f"{digest.period.end.isoformat()} team={digest.scope.team}"))


def test_weekly_on_the_demo_prints_a_week_ending_at_at() -> None:
    code, text = run("weekly", "--at", "2026-11-20T14:00")
    assert code == 0
    # The week ending at --at (UTC by default), in the settings' zone.
    assert text.split() == ["weekly", "2026-11-13T14:00:00+00:00", "2026-11-20T14:00:00+00:00",
                            "team=None"]


def test_a_team_digest_is_scoped_to_the_team() -> None:
    code, text = run("daily", "--team", "payments", "--at", "2026-11-20T14:00")
    assert code == 0
    assert text.split() == ["daily", "2026-11-19T14:00:00+00:00", "2026-11-20T14:00:00+00:00",
                            "team=payments"]


def test_a_bad_at_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = run("weekly", "--at", "yesterday-ish")
    assert code == 2 and "--at" in capsys.readouterr().err


def test_team_and_service_together_are_refused() -> None:
    with pytest.raises(SystemExit):
        run("weekly", "--team", "a", "--service", "b")
