"""What a team would have configured for the demo platform: owners, channels, SLOs, prices.

Applied only when perfbot runs on the demo workload and the settings leave these sections
empty, so ``perfbot demo`` shows the catalog the way a configured installation does.
"""

from __future__ import annotations

from bot.analytics.prices import CostSettings, ServiceCost
from bot.analytics.slo import SLO, LatencySLO
from bot.catalog.settings import CatalogSettings, EndpointOverride, ServiceOverride
from bot.config import Settings
from bot.durations import parse_duration

_TEAMS = {
    "web": ("web-team", "#web"),
    "search": ("discovery-team", "#search"),
    "menu": ("discovery-team", "#menu"),
    "orders": ("orders-team", "#orders"),
    "payments": ("payments-team", "#payments"),
    "users": ("identity-team", "#identity"),
    "delivery": ("logistics-team", "#delivery"),
}


def _latency(threshold: str, quantile: float = 0.95) -> LatencySLO:
    return LatencySLO(quantile=quantile, threshold=parse_duration(threshold))


DEMO_CATALOG = CatalogSettings(
    services={
        name: ServiceOverride(owner=owner, channel=channel)
        for name, (owner, channel) in _TEAMS.items()
    },
    endpoints=[
        EndpointOverride(
            match="POST /api/checkout",
            aliases=["pay"],
            slo=SLO(latency=_latency("600ms"), error_ratio=0.01),
        ),
        EndpointOverride(match="GET /api/orders/history", slo=SLO(latency=_latency("500ms"))),
        EndpointOverride(match="GET /api/search", slo=SLO(latency=_latency("400ms"))),
    ],
)

# A payment provider's monthly fee on top of compute: shows fixed costs in cost answers.
DEMO_COST = CostSettings(services={"payments": ServiceCost(fixed_monthly=200)})


def with_demo_defaults(settings: Settings) -> Settings:
    """``settings`` with the demo's catalog and prices where the user configured none."""
    update: dict[str, object] = {}
    if settings.catalog == CatalogSettings():
        update["catalog"] = DEMO_CATALOG
    if settings.cost == CostSettings():
        update["cost"] = DEMO_COST
    return settings.model_copy(update=update)
