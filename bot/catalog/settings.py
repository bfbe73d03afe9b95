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
    """An endpoint key (POST /api/checkout), a route, or a glob like /api/orders/*."""
    owner: str | None = None
    """The owning team."""
    channel: str | None = None
    """The Slack channel of its incidents."""
    aliases: list[str] = []
    """Other names people use for it."""
    slo: SLO | None = None
    """Its SLO (replaces the service's and the default)."""


class ServiceOverride(_Strict):
    owner: str | None = None
    """The owning team."""
    channel: str | None = None
    """The Slack channel of its incidents."""
    slo: SLO | None = None
    """The SLO of its endpoints (replaces the default)."""


class CatalogSettings(_Strict):
    # How often a running bot asks the metrics server again for its endpoints.
    refresh: Duration = parse_duration("10m")
    """A running bot discovers the endpoints again this often (keeping the last list if it
    fails)."""
    exclude: list[str] = ["/metrics", "/healthz", "/readyz", "/livez", "/favicon.ico"]
    """Routes, keys or globs left out of the catalog."""
    endpoints: list[EndpointOverride] = []
    """What to add to endpoints, by key, route or glob."""
    services: dict[str, ServiceOverride] = {}
    """What to add to services, by name."""
    default_slo: SLO = SLO(
        latency=LatencySLO(quantile=0.95, threshold=parse_duration("500ms")), error_ratio=0.01
    )
    """The SLO of endpoints that have none of their own or of their service."""
