"""The price table that cost figures are made with, and where they come from."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ServiceCost(BaseModel):
    """What a service costs besides its CPU and memory (a managed database, a licence)."""

    model_config = ConfigDict(extra="forbid")

    fixed_monthly: float = Field(default=0, ge=0)


class CostSettings(BaseModel):
    """Where cost figures come from, and the price table used without OpenCost.

    The default prices are OpenCost's own defaults for custom pricing (its
    ``configs/default.json``: 0.031611 per core-hour and 0.004237 per GiB-hour, "based on
    GCP us-central1" on-demand prices), rounded.
    """

    model_config = ConfigDict(extra="forbid")

    source: Literal["auto", "opencost", "prices"] = "auto"  # auto: OpenCost when present
    currency: str = Field(default="USD", min_length=1, max_length=8)
    core_hour: float = Field(default=0.0316, ge=0)
    gib_hour: float = Field(default=0.0042, ge=0)
    per_million_requests: float = Field(default=0.0, ge=0)
    services: dict[str, ServiceCost] = {}
