"""Queries too long for the server, split: VictoriaMetrics refuses one over 16 KB (issue 16).

``PrometheusBackend`` asks ``_too_long`` of a query naming endpoints, services or groups, and
reads a longer one in halves (``_in_halves``: the frames side by side; ``_rows_in_halves``: a
summary's rows one after the other).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import TYPE_CHECKING, TypeVar

from bot.metrics.base import Endpoint, NoDataError

if TYPE_CHECKING:
    import pandas as pd

T = TypeVar("T")

# A query naming endpoints or services grows with them (a regex of services, one of routes):
# VictoriaMetrics refuses one over 16 KB (-search.maxQueryLen, its default), so a longer one
# is split by endpoints (services, groups), with room left for a proxy's own limits.
MAX_QUERY_BYTES = 12_000


def _too_long(query: str, parts: Sequence[object]) -> bool:
    """Over ``MAX_QUERY_BYTES`` and still divisible (``parts``: the endpoints, services or
    groups the query names)."""
    return len(parts) > 1 and len(query.encode()) > MAX_QUERY_BYTES


def _in_halves(
    read: Callable[[Sequence[T]], pd.DataFrame],
    parts: Sequence[T],
    column: Callable[[T], str] = attrgetter("column"),
) -> pd.DataFrame:
    """``read`` over each half of ``parts`` (endpoints, services or groups; halved again while
    too long), the frames side by side, in order (``column`` names a part's column); a half
    without data is NaN columns (as in one query), none with data is ``NoDataError``."""
    import pandas as pd

    frame = pd.concat(_halves(read, parts), axis=1).reindex(
        columns=[column(part) for part in parts])
    frame.index.name = "time"
    return frame


def _rows_in_halves(
    read: Callable[[Sequence[Endpoint]], pd.DataFrame], endpoints: Sequence[Endpoint]
) -> pd.DataFrame:
    """``_in_halves`` for a summary (a row per endpoint): the halves' rows, in order; an
    endpoint without data is a row of NaN with its service (as in one query)."""
    import pandas as pd

    rows = [e.column for e in endpoints]
    frame = pd.concat(_halves(read, endpoints)).reindex(rows)
    frame["service"] = pd.Series([e.service for e in endpoints], index=rows, dtype=object)
    return frame


def _halves(read: Callable[[Sequence[T]], pd.DataFrame], parts: Sequence[T]) -> list[pd.DataFrame]:
    """``read`` of each half of ``parts`` that has data; ``NoDataError`` when neither has."""
    middle = len(parts) // 2
    frames, missing = [], None
    for half in (parts[:middle], parts[middle:]):
        try:
            frames.append(read(half))
        except NoDataError as exc:
            missing = exc
    if not frames:
        assert missing is not None
        raise missing
    return frames
