"""The demo workload scaled to many endpoints, for the load benchmark and the memory tests."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from bot.metrics.base import Endpoint
from bot.metrics.demo import DemoWorkload


def scaled(workload: DemoWorkload, endpoints: int) -> DemoWorkload:
    """The workload copied under numbered service names (``checkout-007``; same traffic,
    latency and incidents in each copy) until it has at least ``endpoints``."""
    copies = math.ceil(endpoints / len(workload.endpoints))

    def name(service: str, copy: int) -> str:
        return f"{service}-{copy:03d}"

    per_copy = len(workload.endpoints)
    return dataclasses.replace(
        workload,
        endpoints=[Endpoint(service=name(e.service, c), route=e.route, method=e.method)
                   for c in range(copies) for e in workload.endpoints],
        services=[name(s, c) for c in range(copies) for s in workload.services],
        series_endpoint=np.concatenate([workload.series_endpoint + c * per_copy
                                        for c in range(copies)]),
        series_status=workload.series_status * copies,
        bucket_counts=np.concatenate([workload.bucket_counts] * copies),
        duration_sum=np.concatenate([workload.duration_sum] * copies),
        cpu_seconds=np.concatenate([workload.cpu_seconds] * copies),
        cpu_limit=np.concatenate([workload.cpu_limit] * copies),
        memory_bytes=np.concatenate([workload.memory_bytes] * copies),
        memory_limit=np.concatenate([workload.memory_limit] * copies),
    )
