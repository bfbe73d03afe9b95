import math

import pytest

from bot.render.text import format_rate, format_ratio, format_seconds, sparkline, table


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.1823, "182 ms"), (0.0042, "4.2 ms"), (2.4, "2.40 s"), (math.nan, "n/a")],
)
def test_format_seconds(seconds: float, text: str) -> None:
    assert format_seconds(seconds) == text


def test_format_ratio_and_rate() -> None:
    assert format_ratio(0.0123) == "1.23%"
    assert format_ratio(0.0) == "0%"
    assert format_ratio(0.00001) == "<0.01%"
    assert format_rate(250.4) == "250 req/s"
    assert format_rate(0.5) == "30.0 req/min"


def test_sparkline_scales_and_shows_gaps() -> None:
    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7]) == "▁▂▃▄▅▆▇█"
    assert sparkline([1.0, math.nan, 1.0]) == "▁ ▁"
    assert sparkline([]) == ""
    assert len(sparkline(list(range(1000)), width=30)) == 30


def test_table_aligns_numbers_right() -> None:
    text = table(["NAME", "P95"], [["a", "5 ms"], ["longer", "120 ms"]], right=(1,))
    lines = text.splitlines()
    assert lines[2] == "a         5 ms"
    assert lines[3] == "longer  120 ms"
