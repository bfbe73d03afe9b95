"""The pure parts of ``perfbot demo``'s walk: where its data ends, the fix put into the
data, and Block Kit read as text. The walk itself: tests/integration/test_demo_walk.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from bot.cli_demo.world import walk_end, with_fix
from bot.config import Settings
from bot.metrics.demo import DemoWorkload
from bot.render.terminal import message_text


@pytest.mark.parametrize(("now", "end"), [
    ("2026-11-25T12:00:00+00:00", "2026-11-23T09:00:00+00:00"),  # Wednesday: that Monday
    ("2026-11-23T09:00:00+00:00", "2026-11-23T09:00:00+00:00"),  # Monday 09:00 itself
    ("2026-11-23T08:59:00+00:00", "2026-11-16T09:00:00+00:00"),  # before it: the week before
])
def test_the_walk_ends_on_the_last_monday_morning(now: str, end: str) -> None:
    assert walk_end(datetime.fromisoformat(now), Settings()) == datetime.fromisoformat(end)


def test_the_fix_replays_the_week_before_from_its_moment_only() -> None:
    workload = DemoWorkload.generate(end=datetime(2026, 11, 23, 9, 0, tzinfo=UTC), days=9)
    step = next(s for s in workload.scenarios if s.kind == "latency_step")
    fixed_at = step.start + timedelta(days=2)
    fixed = with_fix(workload, fixed_at)
    endpoint = next(i for i, e in enumerate(workload.endpoints) if e.key == step.endpoint_key)
    rows = np.flatnonzero(workload.series_endpoint == endpoint)
    first = int((fixed_at - workload.start) / timedelta(minutes=1))
    week = 7 * 24 * 60
    for row in rows:
        assert np.array_equal(fixed.bucket_counts[row, :first], workload.bucket_counts[row, :first])
        assert np.array_equal(fixed.bucket_counts[row, first:],
                              workload.bucket_counts[row, first - week:workload.minutes - week])
    others = np.setdiff1d(np.arange(len(workload.series_status)), rows)
    assert np.array_equal(fixed.bucket_counts[others], workload.bucket_counts[others])
    assert next(s for s in fixed.scenarios if s.kind == "latency_step").end == fixed_at
    assert step.end is None  # the workload given is left as it was
    with pytest.raises(ValueError, match="a week or more"):
        with_fix(workload, workload.start + timedelta(days=3))


def test_block_kit_reads_as_plain_lines() -> None:
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn",
                                     "text": ":rotating_light: You are paged for *INC-1*: <@U1>"}},
        {"type": "context", "elements": [
            {"type": "mrkdwn", "text": "<https://slack.example/x|Open its message> in #orders"}]},
        {"type": "actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "Acknowledge"}},
            {"type": "static_select", "placeholder": {"type": "plain_text", "text": "Snooze…"}}]},
    ]
    assert message_text("fallback", blocks) == (
        "You are paged for INC-1: @U1\nOpen its message in #orders\n[Acknowledge] [Snooze…]")
    assert message_text("*only* text") == "only text"
