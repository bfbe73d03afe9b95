from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.catalog.settings import CatalogSettings
from bot.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("10m", timedelta(minutes=10)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("2d", timedelta(days=2)),
        ("1w", timedelta(weeks=1)),
        ("250ms", timedelta(milliseconds=250)),
        (" 1H 5M ", timedelta(hours=1, minutes=5)),
        ("1.5h", timedelta(minutes=90)),
    ],
)
def test_parse_duration_accepts_prometheus_style(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["soon", "", "10", "m10", "10 minutes", "-5m", "1h-"])
def test_parse_duration_rejects_with_expected_form(text: str) -> None:
    with pytest.raises(ValueError, match=r"expected a duration like '10m', got"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(minutes=5), "5m"),
        (timedelta(hours=1, minutes=30), "1h30m"),
        (timedelta(days=8), "1w1d"),
        (timedelta(0), "0s"),
    ],
)
def test_format_duration_round_trips(delta: timedelta, text: str) -> None:
    assert format_duration(delta) == text
    if delta:
        assert parse_duration(text) == delta


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(milliseconds=500), "500ms"),
        (timedelta(milliseconds=1), "1ms"),
        (timedelta(seconds=1, milliseconds=500), "1s500ms"),
        (timedelta(minutes=2, milliseconds=250), "2m250ms"),
    ],
)
def test_format_duration_writes_milliseconds(delta: timedelta, text: str) -> None:
    assert format_duration(delta) == text
    assert parse_duration(text) == delta


@given(st.integers(min_value=1, max_value=10 * 365 * 86400 * 1000))
def test_parse_duration_reads_what_format_duration_writes(milliseconds: int) -> None:
    delta = timedelta(milliseconds=milliseconds)
    assert parse_duration(format_duration(delta)) == delta


def test_the_default_slo_threshold_serialises_as_500ms() -> None:
    dumped = CatalogSettings().model_dump(mode="json")
    assert dumped["default_slo"]["latency"]["threshold"] == "500ms"
    again = CatalogSettings.model_validate(dumped)
    assert again.default_slo == CatalogSettings().default_slo
