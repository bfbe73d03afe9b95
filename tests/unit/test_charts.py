import io
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from PIL import Image

from bot.render.charts import bar_chart, timeseries_chart
from bot.render.text import format_seconds

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def size_of(png: bytes) -> tuple[int, int]:
    assert png.startswith(PNG_MAGIC)
    with Image.open(io.BytesIO(png)) as image:
        return image.size


def test_timeseries_chart_is_a_slack_sized_png() -> None:
    index = pd.date_range("2026-11-23", periods=288, freq="5min", tz="UTC")
    series = pd.Series(0.15 + 0.05 * np.sin(np.arange(288) / 20), index=index)
    series.iloc[100:110] = np.nan  # a gap must not break the chart
    png = timeseries_chart(
        series,
        "p95 of POST /api/checkout, last 24h",
        format_seconds,
        ZoneInfo("Europe/Berlin"),
        label="today",
        comparison=series * 1.1,
        comparison_label="a week earlier",
        slo=0.25,
    )
    width, height = size_of(png)
    assert 600 <= width <= 1000 and 300 <= height <= 500


def test_bar_chart_grows_with_the_number_of_bars() -> None:
    few = bar_chart(["a", "b"], [0.3, 0.1], "Top 2", format_seconds, highlight_over=0.2)
    many = bar_chart([f"e{i}" for i in range(20)], list(np.linspace(0.1, 1, 20)), "Top 20",
                     format_seconds)
    assert size_of(many)[1] > size_of(few)[1]
