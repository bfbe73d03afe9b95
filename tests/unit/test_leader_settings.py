"""``leader.takeover``: validated at the boundary, and the timings derived from it keep
the two promises of ``bot.storage.leader`` for every allowed value: a standby takes over
within ``takeover``, and a leader cut off stops leading before the server frees its lock."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.config import ConfigError, Settings, load_settings
from bot.storage.leader import timings


@given(st.floats(min_value=10, max_value=600))
def test_the_timings_keep_the_takeover_bound_and_never_make_two_leaders(seconds: float) -> None:
    t = timings(timedelta(seconds=seconds))
    assert t["idle"] >= 1 and t["interval"] >= 1  # 0 would mean the OS default: hours
    assert 2 * t["check"] <= t["lease"]  # a check and its timeout renew the lease in time
    assert t["settle"] >= t["lease"]  # the old leader stopped before the new one leads
    # A killed leader's lock is free at once, a cut-off one's after server_gone: another
    # tries within poll and leads after settle, within the takeover.
    assert t["server_gone"] + t["poll"] + t["settle"] <= seconds + 1e-9


def test_takeover_defaults_to_30s() -> None:
    assert Settings().leader.takeover == timedelta(seconds=30)


@pytest.mark.parametrize("value", ["9s", "11m", "soon"])
def test_a_takeover_out_of_bounds_is_refused_with_the_field_named(
    value: str, tmp_path: Path,
) -> None:
    path = tmp_path / "perfbot.yaml"
    path.write_text(f"leader:\n  takeover: {value}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"leader\.takeover: expected a duration"):
        load_settings(path)
