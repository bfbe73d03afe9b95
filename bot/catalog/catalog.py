"""``Catalog``: the discovered endpoints with their settings, looked up by key, service or name."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bot.catalog.model import EndpointInfo, Resolution
from bot.catalog.overrides import apply_overrides
from bot.catalog.resolve import Resolver
from bot.catalog.settings import CatalogSettings
from bot.catalog.text import normalize
from bot.metrics.base import Endpoint


class Catalog:
    """Discovered endpoints with their settings, in a stable order, and name resolution."""

    def __init__(self, entries: Sequence[EndpointInfo], unmatched: Sequence[str] = (),
                 discovered: Iterable[Endpoint] | None = None) -> None:
        self.entries: tuple[EndpointInfo, ...] = _mark_shared(entries)
        # Every endpoint discovered, the excluded ones too (a health check's busy time
        # still takes its share of its service's cost): answers need not discover again.
        self.discovered: tuple[Endpoint, ...] = (
            tuple(e.endpoint for e in self.entries) if discovered is None
            else tuple(dict.fromkeys(discovered)))
        self.unmatched: list[str] = list(unmatched)
        self.services: tuple[str, ...] = tuple(sorted({e.service for e in self.entries}))
        self._resolver = Resolver(self.entries)
        self._by_service: dict[str, tuple[EndpointInfo, ...]] = {
            service: tuple(e for e in self.entries if e.service == service)
            for service in self.services
        }
        self._by_key: dict[str, EndpointInfo] = {}
        for entry in self.entries:
            self._by_key.setdefault(normalize(entry.key), entry)
        for entry in self.entries:  # "POST /graphql (users)" names one of a shared key's
            self._by_key.setdefault(normalize(entry.label), entry)
        self._by_endpoint = {entry.endpoint: entry for entry in self.entries}

    @classmethod
    def build(cls, endpoints: Iterable[Endpoint], settings: CatalogSettings) -> Catalog:
        """Apply excludes and overrides to the discovered endpoints.

        ``unmatched`` lists each override (its ``match``, or ``services.NAME``) that applies
        to no endpoint left after excludes, so ``check-config`` can warn about typos.
        """
        endpoints = list(endpoints)
        return cls(*apply_overrides(endpoints, settings), discovered=endpoints)

    def for_service(self, name: str) -> tuple[EndpointInfo, ...]:
        """The endpoints of one service (case-insensitive); empty when there is no such service."""
        service = self._resolver.service(name)
        return self._by_service.get(service, ()) if service else ()

    def get(self, key: str) -> EndpointInfo | None:
        """The endpoint with this key (``POST /api/checkout``) or label (``POST /graphql
        (users)``, for a key several services share; the key alone gives the first of them),
        case-insensitively."""
        return self._by_key.get(normalize(key))

    def entry(self, endpoint: Endpoint) -> EndpointInfo | None:
        """The catalog's entry for a discovered endpoint; None when excluded or unknown."""
        return self._by_endpoint.get(endpoint)

    def resolve(self, text: str) -> Resolution:
        """What ``text`` names (see ``Resolver.resolve``). Never raises: anything
        unrecognised is ``unknown``."""
        return self._resolver.resolve(text)


def _mark_shared(entries: Sequence[EndpointInfo]) -> tuple[EndpointInfo, ...]:
    """The entries, each marked ``shared`` when another service serves the same key."""
    services: dict[str, set[str]] = {}
    for entry in entries:
        services.setdefault(entry.key, set()).add(entry.service)
    return tuple(
        entry.model_copy(update={"shared": len(services[entry.key]) > 1})
        if entry.shared != (len(services[entry.key]) > 1) else entry
        for entry in entries
    )

