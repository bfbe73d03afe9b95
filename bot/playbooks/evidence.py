"""Evidence: the named facts about an alert (``cpu``, ``after_deploy``...) conditions may test."""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

EvidenceValue = bool | float | str
EvidenceType = Literal["number", "bool", "choice"]


@dataclass(frozen=True)
class EvidenceKind:
    """One name conditions may use: its type and what it means."""

    name: str
    type: EvidenceType
    meaning: str
    choices: tuple[str, ...] = ()


CHANGES = ("step", "spike", "trend", "drop")

EVIDENCE: dict[str, EvidenceKind] = {
    kind.name: kind
    for kind in (
        EvidenceKind("cpu", "number", "CPU use as a share of the service's CPU limit (0..1)"),
        EvidenceKind("cpu_throttled", "number",
                     "share of CFS periods in which the container was throttled (0..1)"),
        EvidenceKind("memory", "number", "memory working set as a share of the limit (0..1)"),
        EvidenceKind("memory_growth_per_day", "number",
                     "memory gained in a day, as a share of the limit (same time yesterday)"),
        EvidenceKind("restarts", "number", "container restarts in the last hour"),
        EvidenceKind("oom_killed", "bool", "a container was OOM-killed in the last hour"),
        EvidenceKind("error_ratio", "number", "share of requests answered 5xx (0..1)"),
        EvidenceKind("latency_p95", "number", "95th percentile latency, seconds"),
        EvidenceKind("latency_ratio", "number", "p95 latency now over its baseline"),
        EvidenceKind("throughput_ratio", "number", "requests per second now over the baseline"),
        EvidenceKind("change", "choice", "the shape of the change the detector saw", CHANGES),
        EvidenceKind("after_deploy", "bool",
                     "the service was deployed at most 2h before the change began"),
        EvidenceKind("minutes_since_deploy", "number",
                     "minutes from the service's last deploy to the start of the change"),
        EvidenceKind("gc_time_ratio", "number", "share of wall-clock time spent in GC pauses"),
        EvidenceKind("pool_pending", "number",
                     "requests waiting for a database connection from the pool"),
        EvidenceKind("pool_usage", "number", "connections in use over the pool's maximum"),
        EvidenceKind("db_calls_per_request", "number", "database queries per HTTP request"),
        EvidenceKind("cache_hit_ratio", "number", "cache hits over lookups (0..1)"),
        EvidenceKind("cache_miss_rate_ratio", "number",
                     "cache misses per second now over the baseline"),
        EvidenceKind("disk_busy", "number",
                     "share of time the busiest disk had I/O in flight (0..1)"),
        EvidenceKind("downstream_latency_ratio", "number",
                     "latency of calls to dependencies now over the baseline"),
        EvidenceKind("replicas_at_max", "bool", "the autoscaler runs its maximum replicas"),
    )
}

AFTER_DEPLOY_WINDOW = timedelta(hours=2)


def suggest(word: str, known: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for a close match of ``word`` in ``known``, else ""."""
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_evidence(name: str, value: object) -> EvidenceValue:
    """``value`` as the evidence ``name`` holds it; ValueError says what was expected."""
    kind = EVIDENCE.get(name)
    if kind is None:
        raise ValueError(f"unknown evidence {name!r}{suggest(name, EVIDENCE)}")
    if kind.type == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"evidence {name!r} is true or false, got {value!r}")
        return value
    if kind.type == "choice":
        if value not in kind.choices:
            raise ValueError(f"evidence {name!r} is one of {', '.join(kind.choices)}, "
                             f"got {value!r}")
        return str(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"evidence {name!r} is a finite number, got {value!r}")
    return float(value)


def format_evidence(value: EvidenceValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.3g}"
    return f'"{value}"'
