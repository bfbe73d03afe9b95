"""Durations as people and Prometheus write them: ``90s``, ``10m``, ``1h30m``, ``2d``, ``1w``."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+")


def parse_duration(text: str) -> timedelta:
    """``"1h30m"`` → 1:30:00. Raises ValueError with the expected form."""
    cleaned = text.strip().lower().replace(" ", "")
    if not cleaned or not _WHOLE.fullmatch(cleaned):
        raise ValueError(f"expected a duration like '10m', got {text!r}")
    # Summed in milliseconds: 0.001 is not exact in binary, whole milliseconds are.
    millis = sum(float(n) * _UNITS[unit] * 1000 for n, unit in _PART.findall(cleaned))
    return timedelta(milliseconds=millis)


def format_duration(delta: timedelta) -> str:
    """The shortest exact form, to the millisecond: 5400s → ``"1h30m"``, 0.5s → ``"500ms"``;
    used in PromQL and in messages, and read back by ``parse_duration``."""
    total = round(delta / timedelta(milliseconds=1))
    if total <= 0:
        return "0s"
    parts = []
    for unit, size in (("w", 604800000), ("d", 86400000), ("h", 3600000), ("m", 60000),
                       ("s", 1000), ("ms", 1)):
        count, total = divmod(total, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def _to_timedelta(value: Any) -> Any:
    if isinstance(value, str):
        return parse_duration(value)
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like '10m', got {value!r}")
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    return value


Duration = Annotated[
    timedelta,
    BeforeValidator(_to_timedelta),
    PlainSerializer(format_duration, return_type=str),
]


def human_span(span: timedelta) -> str:
    """24h stays ``24h`` (people say so); whole days beyond two days become ``7d``."""
    hours = span.total_seconds() / 3600
    if hours < 1:
        return f"{span.total_seconds() / 60:g}m"
    if hours <= 48 and hours == int(hours):
        return f"{int(hours)}h"
    days = hours / 24
    return f"{days:g}d" if days == int(days) else f"{hours:g}h"


# ---- windows and readings for many endpoints -----------------------------------------------
