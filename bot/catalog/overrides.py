"""The catalog's overrides: what the settings say about discovered endpoints, laid over them.

Excluded routes are dropped; owner, channel, aliases and SLO come from the overrides.
Precedence for one endpoint: an exact key (``POST /api/checkout``) beats a route
(``/api/checkout``), which beats a glob (``/api/orders/*``, ``GET /internal/*``); within the
same kind, the later override in the list wins. Each field is taken from the first override
(in that order) that sets it, then from the service, then from the default SLO; an SLO is
merged per field (latency, error_ratio), and an explicit ``null`` removes a target. A glob
ending in ``/*`` also covers the route itself: ``/api/orders/*`` covers ``/api/orders``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from bot.analytics.slo import SLO
from bot.catalog.model import EndpointInfo
from bot.catalog.settings import CatalogSettings, EndpointOverride, ServiceOverride
from bot.catalog.text import SPACES, normalize, strip_slash
from bot.metrics.base import Endpoint


def apply_overrides(
    endpoints: Iterable[Endpoint], settings: CatalogSettings
) -> tuple[list[EndpointInfo], list[str]]:
    """The entries of the endpoints the settings keep, and the overrides that matched none.

    Entries are in (service, route, method) order; an unmatched override is named by its
    ``match``, or ``services.NAME``.
    """
    excludes = [_Pattern.parse(text) for text in settings.exclude]
    kept = sorted(
        {e for e in endpoints if not any(p.matches(e) for p in excludes)},
        key=lambda e: (e.service, e.route, e.method),
    )
    patterns = [_Pattern.parse(o.match) for o in settings.endpoints]
    services = {name.casefold(): override for name, override in settings.services.items()}
    used: set[int] = set()
    entries: list[EndpointInfo] = []
    for endpoint in kept:
        hits = [i for i, pattern in enumerate(patterns) if pattern.matches(endpoint)]
        used.update(hits)
        hits.sort(key=lambda i: (patterns[i].rank, i), reverse=True)
        entries.append(
            _entry(
                endpoint,
                [settings.endpoints[i] for i in hits],
                services.get(endpoint.service.casefold()),
                settings.default_slo,
            )
        )
    present = {e.service.casefold() for e in kept}
    unmatched = [o.match for i, o in enumerate(settings.endpoints) if i not in used]
    unmatched += [f"services.{n}" for n in settings.services if n.casefold() not in present]
    return entries, unmatched


@dataclass(frozen=True)
class _Pattern:
    """A ``match``/``exclude`` value: an endpoint key, a route, or a glob of either."""

    text: str
    on_key: bool
    is_glob: bool
    norm: str

    @classmethod
    def parse(cls, text: str) -> _Pattern:
        norm = strip_slash(SPACES.sub(" ", text.strip()).casefold())
        return cls(text=text, on_key=" " in norm, is_glob=any(c in norm for c in "*?["), norm=norm)

    @property
    def rank(self) -> int:
        """Specificity: exact key 2, exact route 1, glob 0."""
        return 0 if self.is_glob else 2 if self.on_key else 1

    def matches(self, endpoint: Endpoint) -> bool:
        route = strip_slash(endpoint.route.casefold())
        subject = f"{endpoint.method.casefold()} {route}" if self.on_key else route
        if not self.is_glob:
            return subject == self.norm
        # "/api/orders/*" covers /api/orders itself too: people mean "orders and below".
        return fnmatchcase(subject, self.norm) or (
            self.norm.endswith("/*") and subject == self.norm[:-2]
        )


def _first_set(values: Iterable[str | None]) -> str | None:
    return next((value for value in values if value is not None), None)


def _effective_slo(layers: Sequence[SLO], default: SLO) -> SLO:
    """Per field: the first layer that sets it (even to null), else the default."""

    def pick(name: str) -> object:
        for slo in layers:
            if name in slo.model_fields_set:
                return getattr(slo, name)
        return getattr(default, name)

    return SLO.model_validate({"latency": pick("latency"), "error_ratio": pick("error_ratio")})


def _entry(
    endpoint: Endpoint,
    overrides: Sequence[EndpointOverride],
    service: ServiceOverride | None,
    default_slo: SLO,
) -> EndpointInfo:
    aliases: dict[str, str] = {}
    for override in overrides:
        for alias in override.aliases:
            aliases.setdefault(normalize(alias), alias.strip())
    slos = [o.slo for o in overrides if o.slo is not None]
    if service and service.slo:
        slos.append(service.slo)
    return EndpointInfo(
        endpoint=endpoint,
        owner=_first_set([*(o.owner for o in overrides), service.owner if service else None]),
        channel=_first_set([*(o.channel for o in overrides), service.channel if service else None]),
        aliases=tuple(alias for norm, alias in aliases.items() if norm),
        slo=_effective_slo(slos, default_slo),
    )

