import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.render.text import (
    _cell_means,
    format_rate,
    format_ratio,
    format_seconds,
    sparkline,
    table,
)


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


def _cells_by_split(data: np.ndarray, width: int) -> np.ndarray:
    """The cell means as ``sparkline`` took them before (issue 13): a ``nanmean`` per cell."""
    cells = np.array_split(data, width)
    return np.array([np.nanmean(c) if np.isfinite(c).any() else np.nan for c in cells])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                          st.floats(0, 1e4), st.just(math.nan)), min_size=25, max_size=600),
       st.integers(1, 40))
def test_sparkline_cells_are_each_cells_nanmean_to_the_bit(values: list[float],
                                                          width: int) -> None:
    data = np.asarray(values, dtype=float)
    if data.size <= width:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # ±inf in one cell: NaN, as before
        expected = _cells_by_split(data, width)
    assert np.array_equal(_cell_means(data, width), expected, equal_nan=True)
