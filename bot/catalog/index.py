"""The name index: every name of the catalog's entries (keys, routes, short forms, aliases,
services, route words) mapped to the entries it names, built once per catalog."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from bot.catalog.model import EndpointInfo
from bot.catalog.text import (
    LOOSE_VALUE,
    PLACEHOLDER,
    STOPWORDS,
    content_stems,
    normalize,
    route_template,
    short_forms,
    split_words,
    stem,
    word_key,
)


@dataclass(frozen=True)
class Target:
    """What a name points at: some entries, or a whole service."""

    entries: tuple[int, ...] = ()
    service: str | None = None


@dataclass
class Index:
    """The names of the entries (by position in the catalog) and the words of their routes."""

    full: dict[str, list[int]] = field(default_factory=dict)  # keys and routes
    short: dict[str, list[int]] = field(default_factory=dict)  # routes without / or api/
    alias: dict[str, list[int]] = field(default_factory=dict)
    service: dict[str, str] = field(default_factory=dict)
    # Templated routes: matching concrete paths (a placeholder's value a plain word or
    # number), and loosely (any value: for suggestions only).
    templates: list[tuple[re.Pattern[str], int]] = field(default_factory=list)
    loose_templates: list[tuple[re.Pattern[str], int]] = field(default_factory=list)
    literal_words: dict[str, set[int]] = field(default_factory=dict)  # segments + service
    all_words: dict[str, set[int]] = field(default_factory=dict)  # + placeholder words
    literal_sets: list[frozenset[str]] = field(default_factory=list)
    service_positions: dict[str, tuple[int, ...]] = field(default_factory=dict)
    vocabulary: dict[str, str] = field(default_factory=dict)  # stem → a word as written
    names: dict[str, Target] = field(default_factory=dict)  # for near-miss matching

    def add_name(self, name: str, target: Target) -> None:
        if name and name not in self.names:
            self.names[name] = target

    def add_words(self, i: int, literal: Iterable[str], placeholder: Iterable[str]) -> None:
        literal_stems = set(content_stems(literal))
        for found in literal_stems:
            self.literal_words.setdefault(found, set()).add(i)
        for found in literal_stems | set(content_stems(placeholder)):
            self.all_words.setdefault(found, set()).add(i)
        self.literal_sets.append(frozenset(literal_stems))
        for word in [*literal, *placeholder]:
            if word not in STOPWORDS and not word.isdigit():
                self.vocabulary.setdefault(stem(word), word)


def build_index(entries: Sequence[EndpointInfo]) -> Index:
    index = Index()
    for service in sorted({entry.service for entry in entries}):
        for name in (normalize(service), word_key(service)):
            if name:
                index.service.setdefault(name, service)
        index.add_name(normalize(service), Target(service=service))
        for word in split_words(service):
            index.vocabulary.setdefault(stem(word), word)
    for i, entry in enumerate(entries):
        route = normalize(entry.endpoint.route) or "/"
        key = f"{entry.endpoint.method.casefold()} {route}" if entry.endpoint.method else route
        # ``/<page>`` and ``/:page`` also as ``/{page}``: how a question's path writes them.
        braced = "/".join(f"{{{part.strip('<>:')}}}" if PLACEHOLDER.match(part) else part
                          for part in route.split("/"))
        method = entry.endpoint.method.casefold()
        for name in dict.fromkeys([key, route, f"{method} {braced}" if method else braced,
                                   braced]):
            index.full.setdefault(name, []).append(i)
        forms = short_forms(route)
        for name in forms:
            index.short.setdefault(name, []).append(i)
        # Near misses are compared with the shortest form only: typos inside longer forms
        # are word-level and corrected word by word, and fewer names keep misses fast.
        index.add_name(forms[-1] if forms else key, Target(entries=(i,)))
        template = route_template(route)
        if template is not None:
            index.templates.append((template, i))
            index.loose_templates.append((route_template(route, LOOSE_VALUE) or template, i))
        for alias in entry.aliases:
            for name in dict.fromkeys([normalize(alias), word_key(alias)]):
                if name:
                    index.alias.setdefault(name, []).append(i)
            for word in split_words(alias):
                index.vocabulary.setdefault(stem(word), word)
        literal: list[str] = []
        placeholder: list[str] = []
        for part in entry.endpoint.route.split("/"):
            (placeholder if PLACEHOLDER.match(part) else literal).extend(split_words(part))
        index.add_words(i, [*literal, *split_words(entry.service)], placeholder)
    for entry_service in index.service.values():
        index.service_positions[entry_service] = tuple(
            i for i, entry in enumerate(entries) if entry.service == entry_service
        )
    for name, found in index.alias.items():
        target = Target(entries=tuple(found))
        index.names[name] = target  # aliases are chosen by people: they win a name clash
    return index

