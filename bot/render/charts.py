"""PNG charts sized for Slack's preview (about 800×400 px); pure: data in, PNG bytes out."""

from __future__ import annotations

import functools
import io
import threading
from collections.abc import Callable, Sequence
from datetime import tzinfo
from typing import TYPE_CHECKING, ParamSpec

import pandas as pd

# matplotlib is imported when a chart is drawn (_pyplot): a text answer does not pay for it.
if TYPE_CHECKING:
    from types import ModuleType

    from matplotlib.figure import Figure

SIZE_INCHES = (8.0, 4.0)
DPI = 100
MAIN_COLOUR = "#1f6feb"
COMPARE_COLOUR = "#8b949e"
SLO_COLOUR = "#d1242f"

Formatter = Callable[[float], str]
P = ParamSpec("P")

# One chart drawn at a time: matplotlib's pyplot and rc settings are global state, not
# thread-safe, and drawing holds the GIL, so eight answers drawing at once were no faster
# than one after another, only ~50 MB larger (eight figures and canvases alive at once).
_DRAWING = threading.Lock()


def _pyplot() -> ModuleType:
    import matplotlib

    matplotlib.use("Agg")  # no display: charts are files, never windows
    import matplotlib.pyplot as plt

    return plt


def literal_text(draw: Callable[P, bytes]) -> Callable[P, bytes]:
    """Draw with every text taken as written: names from the metrics are titles, legend
    entries and tick labels, and matplotlib would read ``$…$`` in a route as mathtext (and
    fail on ``/a_$^$``, so the answer or the alert would lose its chart). One draw at a
    time in the process (``_DRAWING``)."""
    @functools.wraps(draw)
    def drawn(*args: P.args, **kwargs: P.kwargs) -> bytes:
        with _DRAWING, _pyplot().rc_context({"text.parse_math": False, "text.usetex": False}):
            return draw(*args, **kwargs)
    return drawn


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    _pyplot().close(figure)
    return buffer.getvalue()


@literal_text
def timeseries_chart(
    series: pd.Series,
    title: str,
    formatter: Formatter,
    tz: tzinfo,
    *,
    label: str = "",
    comparison: pd.Series | None = None,
    comparison_label: str = "",
    slo: float | None = None,
) -> bytes:
    """A line over time; an earlier window overlaid on the same clock (shifted), and the SLO line.

    ``comparison`` must already be shifted onto ``series``' time axis by the caller (pure
    rendering: the chart does not know how far back the comparison window was).
    """
    import matplotlib.dates as mdates
    from matplotlib.ticker import FuncFormatter

    figure, axes = _pyplot().subplots(figsize=SIZE_INCHES)
    local = series.tz_convert(tz) if isinstance(series.index, pd.DatetimeIndex) else series
    axes.plot(local.index, local.to_numpy(dtype=float), color=MAIN_COLOUR, linewidth=1.8,
              label=label or None)
    if comparison is not None:
        earlier = comparison.tz_convert(tz)
        axes.plot(earlier.index, earlier.to_numpy(dtype=float), color=COMPARE_COLOUR,
                  linewidth=1.4, linestyle="--", label=comparison_label or None)
    if slo is not None:
        axes.axhline(slo, color=SLO_COLOUR, linewidth=1.2, linestyle=":",
                     label=f"SLO {formatter(slo)}")
    axes.set_title(title, fontsize=13, loc="left")
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: formatter(value)))
    locator = mdates.AutoDateLocator(tz=tz)  # type: ignore[no-untyped-call]
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(
        mdates.ConciseDateFormatter(locator, tz=tz)  # type: ignore[no-untyped-call]
    )
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    if label or comparison is not None or slo is not None:
        axes.legend(loc="best", fontsize=10, framealpha=0.8)
    return _png(figure)


@literal_text
def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    title: str,
    formatter: Formatter,
    *,
    highlight_over: float | None = None,
) -> bytes:
    """Horizontal bars, largest on top; bars above ``highlight_over`` (an SLO) in red."""
    from matplotlib.ticker import FuncFormatter

    figure, axes = _pyplot().subplots(figsize=(SIZE_INCHES[0], max(2.5, 0.45 * len(labels) + 1)))
    positions = list(range(len(labels)))[::-1]
    colours = [
        SLO_COLOUR if highlight_over is not None and value > highlight_over else MAIN_COLOUR
        for value in values
    ]
    axes.barh(positions, list(values), color=colours)
    axes.set_yticks(positions, labels=list(labels), fontsize=10)
    for position, value in zip(positions, values, strict=True):
        axes.text(value, position, f" {formatter(value)}", va="center", fontsize=9)
    axes.set_title(title, fontsize=13, loc="left")
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _pos: formatter(value)))
    axes.margins(x=0.15)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    return _png(figure)
