"""The price table that cost figures are made with, and where they come from."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ServiceCost(BaseModel):
    """What a service costs besides its CPU and memory (a managed database, a licence)."""

    model_config = ConfigDict(extra="forbid")

    fixed_monthly: float = Field(default=0, ge=0)
    """A fixed monthly cost outside the cluster, spread evenly over time."""


class CostSettings(BaseModel):
    """Where cost figures come from, and the price table used without OpenCost.

    The default prices are OpenCost's own defaults for custom pricing (its
    ``configs/default.json``: 0.031611 per core-hour and 0.004237 per GiB-hour, "based on
    GCP us-central1" on-demand prices), rounded.
    """

    model_config = ConfigDict(extra="forbid")

    source: Literal["auto", "opencost", "prices"] = "auto"  # auto: OpenCost when present
    """auto: OpenCost's metrics when Prometheus has them, else the price table; opencost or prices:
    only that."""
    currency: str = Field(default="USD", min_length=1, max_length=8)
    """The currency of the prices and figures."""
    core_hour: float = Field(default=0.0316, ge=0)
    """Price of a core-hour (OpenCost's default)."""
    gib_hour: float = Field(default=0.0042, ge=0)
    """Price of a GiB-hour of memory (OpenCost's default)."""
    per_million_requests: float = Field(default=0.0, ge=0)
    """Price per million requests (an API gateway, a load balancer)."""
    services: dict[str, ServiceCost] = {}
    """Costs per service besides CPU and memory."""
