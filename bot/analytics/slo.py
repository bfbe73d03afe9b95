"""Service level objectives: the model the catalog assigns and the findings judge against."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from bot.durations import Duration


class LatencySLO(BaseModel):
    model_config = ConfigDict(extra="forbid")

    quantile: float = Field(default=0.95, gt=0, lt=1)
    """The quantile judged, like 0.95 for p95."""
    threshold: Duration
    """The latency it must stay under, like 500ms."""


class SLO(BaseModel):
    model_config = ConfigDict(extra="forbid")

    latency: LatencySLO | None = None
    """The latency objective."""
    error_ratio: float | None = Field(default=None, ge=0, le=1)
    """The largest share of failed requests, like 0.01."""
