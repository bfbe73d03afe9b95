"""What people add to the discovered endpoints (owners, channels, aliases, SLOs, exclusions):
the settings the catalog reads (``bot.config`` composes them into the whole settings)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from bot.analytics.slo import SLO, LatencySLO
from bot.durations import Duration, parse_duration


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EndpointOverride(_Strict):
    """What people add to a discovered endpoint. ``match`` is a key, route or glob."""

    match: str
    owner: str | None = None
    channel: str | None = None
    aliases: list[str] = []
    slo: SLO | None = None


class ServiceOverride(_Strict):
    owner: str | None = None
    channel: str | None = None
    slo: SLO | None = None


class CatalogSettings(_Strict):
    # How often a running bot asks the metrics server again for its endpoints.
    refresh: Duration = parse_duration("10m")
    exclude: list[str] = ["/metrics", "/healthz", "/readyz", "/livez", "/favicon.ico"]
    endpoints: list[EndpointOverride] = []
    services: dict[str, ServiceOverride] = {}
    default_slo: SLO = SLO(
        latency=LatencySLO(quantile=0.95, threshold=parse_duration("500ms")), error_ratio=0.01
    )
