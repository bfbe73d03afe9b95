"""The endpoint catalog: endpoints discovered from the metrics, plus what the settings add.

Nobody lists routes by hand: ``Catalog.build`` takes what the metrics backend discovered,
drops the excluded routes, and lays the settings' overrides (owner, channel, aliases, SLO)
over them. ``Catalog.resolve`` turns what a person typed ("checkout", "order history",
"chekout", "payments") into endpoints, using indexes computed once at build time.

Override precedence for one endpoint: an exact key (``POST /api/checkout``) beats a route
(``/api/checkout``), which beats a glob (``/api/orders/*``, ``GET /internal/*``); within the
same kind, the later override in the list wins. Each field is taken from the first override
(in that order) that sets it, then from the service, then from the default SLO; an SLO is
merged per field (latency, error_ratio), and an explicit ``null`` removes a target. A glob
ending in ``/*`` also covers the route itself: ``/api/orders/*`` covers ``/api/orders``.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Literal

from pydantic import BaseModel, ConfigDict

from bot.analytics.slo import SLO
from bot.config import CatalogSettings, EndpointOverride, ServiceOverride
from bot.metrics.base import Endpoint

Status = Literal["exact", "alias", "fuzzy", "service", "ambiguous", "unknown"]

HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
MAX_SUGGESTIONS = 5
# Longer text is not a name (a pasted log line, a query, an attack); it is not matched at all.
MAX_TEXT = 200
# Fuzzy matching: a word must be this close to a known one to be corrected silently;
# below SUGGEST_CUTOFF a name is not even offered as a suggestion.
WORD_CUTOFF = 0.85  # one typo in 7 letters; "trace" is not taken for "track"
NAME_CUTOFF = 0.85
SUGGEST_CUTOFF = 0.6
MIN_FUZZY_WORD = 4  # shorter words have too many neighbours to guess safely

_STOPWORDS = frozenset({
    "a", "an", "the", "of", "for", "by", "on", "in", "to", "and", "at", "with",
    "api", "endpoint", "endpoints", "route", "routes",
})
_SERVICE_WORDS = frozenset({"service", "services", "svc"})  # filler in "the search service"
_QUOTES = "\"'`‘’“”«»"
_PLACEHOLDER = re.compile(r"^(?:\{[^/{}]*\}|<[^/<>]*>|:\w+)$")
_VERSION = re.compile(r"^v\d+$")
_CAMEL = re.compile(r"([a-z0-9])([A-Z])")
_WORD = re.compile(r"[a-z0-9]+")
_URL_PREFIX = re.compile(r"^[a-z][a-z0-9+.-]*://[^/]*")
_SPACES = re.compile(r"\s+")


class EndpointInfo(BaseModel):
    """One endpoint with what the settings say about it; ``slo`` is the effective one."""

    model_config = ConfigDict(frozen=True)

    endpoint: Endpoint
    owner: str | None = None
    channel: str | None = None
    aliases: tuple[str, ...] = ()
    slo: SLO
    # Another service in the catalog serves the same key: ``label`` names the service too.
    shared: bool = False

    @property
    def key(self) -> str:
        return self.endpoint.key

    @property
    def column(self) -> str:
        """The endpoint's column in the backends' frames (``Endpoint.column``)."""
        return self.endpoint.column

    @property
    def label(self) -> str:
        """The name shown to people: the key, with the service when another one shares it."""
        return _labels([self])[0]

    @property
    def service(self) -> str:
        return self.endpoint.service


class Resolution(BaseModel):
    """What a piece of text names: endpoints, maybe a whole service, or suggestions.

    ``status`` says how it was found; ``service`` is set whenever the text (or its
    correction, for "fuzzy") named a whole service, and ``matches`` then holds its endpoints.
    """

    model_config = ConfigDict(frozen=True)

    text: str  # what was asked, cleaned of control characters and shortened for messages
    status: Status
    matches: list[EndpointInfo] = []
    service: str | None = None
    suggestions: list[str] = []
    read_as: str | None = None  # the corrected reading behind a fuzzy/ambiguous answer

    @property
    def shared_key(self) -> bool:
        """Ambiguous only because several services serve the one key named: it means them all."""
        return self.status == "ambiguous" and len({m.key for m in self.matches}) == 1

    @property
    def single(self) -> EndpointInfo | None:
        """The one endpoint named, when exactly one was."""
        return self.matches[0] if len(self.matches) == 1 else None

    @property
    def message(self) -> str:
        """A short sentence for people."""
        said = f"'{self.text}'"
        if self.status == "exact":
            return f"{said} is {_labels(self.matches)[0]}."
        if self.status == "alias":
            return f"{said} is an alias of {_labels(self.matches)[0]}."
        if self.status == "service":
            count = _count(len(self.matches), "endpoint")
            return f"{said} is the {self.service} service: {count}: {_listing(self.matches)}."
        if self.status == "fuzzy":
            guess = f"the {self.service} service" if self.service else _labels(self.matches)[0]
            return f"No endpoint called {said} — did you mean {guess}?"
        if self.status == "ambiguous":
            reading = f" (read as '{self.read_as}')" if self.read_as else ""
            count = _count(len(self.matches), "endpoint")
            return f"{said}{reading} matches {count}: {_listing(self.matches)}"
        if not self.text:
            return "Which endpoint? Name a route like /api/checkout, a key or a service."
        if self.suggestions:
            return f"No endpoint called {said} — did you mean {_or(self.suggestions)}?"
        return f"No endpoint or service called {said}."


def _labels(entries: Sequence[EndpointInfo]) -> list[str]:
    """Keys, with the service added where two services share a key (in the catalog or here)."""
    keys = [entry.key for entry in entries]
    return [
        f"{entry.key} ({entry.service})" if entry.shared or keys.count(entry.key) > 1
        else entry.key
        for entry in entries
    ]


def _listing(entries: Sequence[EndpointInfo]) -> str:
    shown = ", ".join(_labels(entries)[:MAX_SUGGESTIONS])
    rest = len(entries) - MAX_SUGGESTIONS
    return f"{shown} and {rest} more" if rest > 0 else shown


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _or(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"


# --- text normalisation ---------------------------------------------------------------------


def normalize(text: str) -> str:
    """Case-, space- and quote-insensitive form of a name; a trailing slash is dropped."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
    text = _SPACES.sub(" ", text).strip(" " + _QUOTES).casefold()
    text = _URL_PREFIX.sub("", text)
    if text.startswith("/"):
        text = re.split(r"[?#]", text, maxsplit=1)[0]  # a pasted URL's query string
    return _strip_slash(text.rstrip("?!.,;:").strip())


def _strip_slash(text: str) -> str:
    """Drop a trailing slash, but keep a root route: "/" and "get /" stay as they are."""
    stripped = text.rstrip("/")
    return stripped + "/" if text.endswith("/") and stripped[-1:] in ("", " ") else stripped


def _split_words(text: str) -> list[str]:
    return _WORD.findall(_CAMEL.sub(r"\1 \2", text).casefold())


def _stem(word: str) -> str:
    """Singular and plural alike: orders → order, deliveries → delivery, address stays."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _content_stems(words: Iterable[str]) -> list[str]:
    return [_stem(w) for w in words if w not in _STOPWORDS and not w.isdigit()]


def _word_key(text: str) -> str:
    """The words of a name, stemmed, without filler: 'the Payments service' → 'payment'."""
    words = [w for w in _split_words(text) if w not in _SERVICE_WORDS]
    return " ".join(_content_stems(words))


def _short_forms(route: str) -> list[str]:
    """``/api/v1/orders`` → ``api/v1/orders``, ``v1/orders``, ``orders``."""
    forms = []
    rest = route.lstrip("/")
    if rest:
        forms.append(rest)
    if rest.startswith("api/"):
        rest = rest[4:]
        forms.append(rest)
    head, _, tail = rest.partition("/")
    if _VERSION.match(head) and tail:
        forms.append(tail)
    return [form for form in forms if form]


def _template(route: str) -> re.Pattern[str] | None:
    """A regex matching concrete paths of a templated route (``/api/orders/123``)."""
    parts = route.split("/")
    if not any(_PLACEHOLDER.match(part) for part in parts):
        return None
    return re.compile(
        "/".join("[^/]+" if _PLACEHOLDER.match(part) else re.escape(part) for part in parts)
    )


# --- overrides ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Pattern:
    """A ``match``/``exclude`` value: an endpoint key, a route, or a glob of either."""

    text: str
    on_key: bool
    is_glob: bool
    norm: str

    @classmethod
    def parse(cls, text: str) -> _Pattern:
        norm = _strip_slash(_SPACES.sub(" ", text.strip()).casefold())
        return cls(text=text, on_key=" " in norm, is_glob=any(c in norm for c in "*?["), norm=norm)

    @property
    def rank(self) -> int:
        """Specificity: exact key 2, exact route 1, glob 0."""
        return 0 if self.is_glob else 2 if self.on_key else 1

    def matches(self, endpoint: Endpoint) -> bool:
        route = _strip_slash(endpoint.route.casefold())
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


# --- the index ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    """What a name points at: some entries, or a whole service."""

    entries: tuple[int, ...] = ()
    service: str | None = None


@dataclass
class _Index:
    full: dict[str, list[int]] = field(default_factory=dict)  # keys and routes
    short: dict[str, list[int]] = field(default_factory=dict)  # routes without / or api/
    alias: dict[str, list[int]] = field(default_factory=dict)
    service: dict[str, str] = field(default_factory=dict)
    templates: list[tuple[re.Pattern[str], int]] = field(default_factory=list)
    literal_words: dict[str, set[int]] = field(default_factory=dict)  # segments + service
    all_words: dict[str, set[int]] = field(default_factory=dict)  # + placeholder words
    literal_sets: list[frozenset[str]] = field(default_factory=list)
    service_positions: dict[str, tuple[int, ...]] = field(default_factory=dict)
    vocabulary: dict[str, str] = field(default_factory=dict)  # stem → a word as written
    names: dict[str, _Target] = field(default_factory=dict)  # for near-miss matching

    def add_name(self, name: str, target: _Target) -> None:
        if name and name not in self.names:
            self.names[name] = target

    def add_words(self, i: int, literal: Iterable[str], placeholder: Iterable[str]) -> None:
        literal_stems = set(_content_stems(literal))
        for stem in literal_stems:
            self.literal_words.setdefault(stem, set()).add(i)
        for stem in literal_stems | set(_content_stems(placeholder)):
            self.all_words.setdefault(stem, set()).add(i)
        self.literal_sets.append(frozenset(literal_stems))
        for word in [*literal, *placeholder]:
            if word not in _STOPWORDS and not word.isdigit():
                self.vocabulary.setdefault(_stem(word), word)


def _build_index(entries: Sequence[EndpointInfo]) -> _Index:
    index = _Index()
    for service in sorted({entry.service for entry in entries}):
        for name in (normalize(service), _word_key(service)):
            if name:
                index.service.setdefault(name, service)
        index.add_name(normalize(service), _Target(service=service))
        for word in _split_words(service):
            index.vocabulary.setdefault(_stem(word), word)
    for i, entry in enumerate(entries):
        route = normalize(entry.endpoint.route) or "/"
        key = f"{entry.endpoint.method.casefold()} {route}" if entry.endpoint.method else route
        for name in dict.fromkeys([key, route]):
            index.full.setdefault(name, []).append(i)
        forms = _short_forms(route)
        for name in forms:
            index.short.setdefault(name, []).append(i)
        # Near misses are compared with the shortest form only: typos inside longer forms
        # are word-level and corrected word by word, and fewer names keep misses fast.
        index.add_name(forms[-1] if forms else key, _Target(entries=(i,)))
        template = _template(route)
        if template is not None:
            index.templates.append((template, i))
        for alias in entry.aliases:
            for name in dict.fromkeys([normalize(alias), _word_key(alias)]):
                if name:
                    index.alias.setdefault(name, []).append(i)
            for word in _split_words(alias):
                index.vocabulary.setdefault(_stem(word), word)
        literal: list[str] = []
        placeholder: list[str] = []
        for part in entry.endpoint.route.split("/"):
            (placeholder if _PLACEHOLDER.match(part) else literal).extend(_split_words(part))
        index.add_words(i, [*literal, *_split_words(entry.service)], placeholder)
    for entry_service in index.service.values():
        index.service_positions[entry_service] = tuple(
            i for i, entry in enumerate(entries) if entry.service == entry_service
        )
    for name, found in index.alias.items():
        target = _Target(entries=tuple(found))
        index.names[name] = target  # aliases are chosen by people: they win a name clash
    return index


# --- the catalog ----------------------------------------------------------------------------


class Catalog:
    """Discovered endpoints with their settings, in a stable order, and name resolution."""

    def __init__(self, entries: Sequence[EndpointInfo], unmatched: Sequence[str] = ()) -> None:
        self.entries: tuple[EndpointInfo, ...] = _mark_shared(entries)
        self.unmatched: list[str] = list(unmatched)
        self.services: tuple[str, ...] = tuple(sorted({e.service for e in self.entries}))
        self._index = _build_index(self.entries)
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
        self._names = [(name, len(name)) for name in self._index.names]
        self._vocabulary = list(self._index.vocabulary)

    @classmethod
    def build(cls, endpoints: Iterable[Endpoint], settings: CatalogSettings) -> Catalog:
        """Apply excludes and overrides to the discovered endpoints.

        ``unmatched`` lists each override (its ``match``, or ``services.NAME``) that applies
        to no endpoint left after excludes, so ``check-config`` can warn about typos.
        """
        excludes = [_Pattern.parse(text) for text in settings.exclude]
        kept = sorted(
            {e for e in endpoints if not any(p.matches(e) for p in excludes)},
            key=lambda e: (e.service, e.route, e.method),
        )
        patterns = [_Pattern.parse(o.match) for o in settings.endpoints]
        services = {name.casefold(): override for name, override in settings.services.items()}
        used: set[int] = set()
        entries = []
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
        return cls(entries, unmatched)

    def for_service(self, name: str) -> tuple[EndpointInfo, ...]:
        """The endpoints of one service (case-insensitive); empty when there is no such service."""
        service = self._index.service.get(normalize(name))
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
        """What ``text`` names. Never raises: anything unrecognised is ``unknown``.

        Steps, first hit wins: a name as written (key, route, alias, service, short route);
        the same after correcting near-miss words; a concrete path of a templated route
        (``/api/orders/123``); the words of routes; those words corrected; the closest
        whole name. A path is corrected before it is taken as a template's value, so
        ``/api/orders/histry`` is the history route, not an order called "histry".
        """
        said = _echo(text)
        if len(text) > 4 * MAX_TEXT:
            return Resolution(text=said, status="unknown")
        norm = normalize(text)
        if not norm or len(norm) > MAX_TEXT:
            return Resolution(text=said if norm else "", status="unknown")
        found = self._by_name(norm)
        if isinstance(found, list):  # the route exists, but not with the method named
            return Resolution(text=said, status="unknown", suggestions=found[:MAX_SUGGESTIONS])
        if found:
            return self._answer(said, found)
        corrected = self._correct_words(norm)
        again = self._by_name(corrected) if corrected else None
        if isinstance(again, _Found):
            return self._answer(said, again, read_as=corrected)
        found = self._by_template(norm) or self._by_words(norm)
        if found:
            return self._answer(said, found)
        if corrected and (again := self._by_words(corrected)):
            return self._answer(said, again, read_as=corrected)
        close = self._close_names(norm)
        if close and close[0][0] >= NAME_CUTOFF:
            name = close[0][1]
            return self._answer(said, self._found(self._index.names[name]), read_as=name)
        return Resolution(
            text=said, status="unknown", suggestions=self._suggest(norm, [n for _, n in close])
        )

    # -- steps ---------------------------------------------------------------------------------

    def _by_name(self, norm: str) -> _Found | list[str] | None:
        """Names as written, in order of how deliberately they name something.

        Returns the keys of the route's endpoints when the route exists but not with the
        method the text named ("PUT /api/checkout"), so they can be suggested.
        """
        index = self._index
        method, rest = _split_method(norm)
        full = index.full.get(norm) or index.full.get(rest, [])
        if full:
            return self._filtered(full, method, "exact") or [self.entries[i].key for i in full]
        # Word forms ("the Payments service") are for words, not for paths.
        words = "/" not in norm
        aliases = index.alias.get(rest) or (index.alias.get(_word_key(rest), []) if words else [])
        found = self._filtered(aliases, method, "alias")
        if found:
            return found
        service = index.service.get(norm) or (index.service.get(_word_key(norm)) if words else None)
        if service:  # looked up with the method included, so "delete orders" is not one
            return _Found(index.service_positions[service], "service", service)
        return self._filtered(index.short.get(rest.lstrip("/"), []), method, "exact")

    def _by_template(self, norm: str) -> _Found | None:
        """A concrete path of a templated route: ``/api/orders/123``."""
        method, rest = _split_method(norm)
        if not rest.startswith("/"):
            return None
        concrete = [i for pattern, i in self._index.templates if pattern.fullmatch(rest)]
        return self._filtered(concrete, method, "exact")

    def _by_words(self, norm: str) -> _Found | None:
        """Every content word found in the route (plurals alike); an HTTP method filters."""
        words = [w for w in _WORD.findall(norm) if w not in _STOPWORDS and not w.isdigit()]
        if not words or len(words) > 12:
            return None
        methods = [w for w in words if w.upper() in HTTP_METHODS]
        method = methods[0] if len(methods) == 1 else ""
        attempts = [([w for w in words if w != method], method)] if method else []
        attempts.append((words, ""))  # "delete" may be a route word, not the method
        for content, wanted in attempts:
            stems = [_stem(w) for w in content if w not in _SERVICE_WORDS] or [
                _stem(w) for w in content
            ]
            for table in (self._index.literal_words, self._index.all_words):
                found = self._filtered(_intersect(table, stems), wanted, "exact")
                if found:
                    return found
        return None

    def _filtered(self, positions: Iterable[int], method: str, status: Status) -> _Found | None:
        wanted = method.upper()
        kept = [i for i in positions if not wanted or self.entries[i].endpoint.method == wanted]
        return _Found(tuple(kept), status) if kept else None

    def _found(self, target: _Target) -> _Found:
        if target.service:
            return _Found(self._index.service_positions[target.service], "service", target.service)
        return _Found(target.entries, "exact")

    def _correct_words(self, norm: str) -> str | None:
        """Replace each unknown word by the known word it is a near miss of, if all are."""
        vocabulary = self._index.vocabulary
        changed = False
        out = []
        for token in re.split(r"([a-z0-9]+)", norm):
            if not token or not token[0].isalnum() or _stem(token) in vocabulary:
                out.append(token)
                continue
            if (
                token in _STOPWORDS
                or token in _SERVICE_WORDS
                or token.isdigit()
                or token.upper() in HTTP_METHODS
            ):
                out.append(token)
                continue
            if len(token) < MIN_FUZZY_WORD:
                return None
            close = difflib.get_close_matches(
                _stem(token), self._vocabulary, n=1, cutoff=WORD_CUTOFF
            )
            if not close:
                return None
            out.append(vocabulary[close[0]])
            changed = True
        return "".join(out) if changed else None

    def _close_names(self, norm: str) -> list[tuple[float, str]]:
        """Known names at least SUGGEST_CUTOFF alike to the text, best first (one pass)."""
        matcher = difflib.SequenceMatcher()
        matcher.set_seq2(norm)
        scored = []
        size = len(norm)
        # ratio = 2·matches/(len a + len b) ≤ 2·min/(sum): skip names of a hopeless length.
        low = size * SUGGEST_CUTOFF / (2 - SUGGEST_CUTOFF)
        high = size * (2 - SUGGEST_CUTOFF) / SUGGEST_CUTOFF
        for name, length in self._names:
            if not low <= length <= high:
                continue
            matcher.set_seq1(name)
            if (
                matcher.real_quick_ratio() >= SUGGEST_CUTOFF
                and matcher.quick_ratio() >= SUGGEST_CUTOFF
                and (score := matcher.ratio()) >= SUGGEST_CUTOFF
            ):
                scored.append((score, name))
        scored.sort(key=lambda pair: -pair[0])  # stable: equal scores keep catalog order
        return scored

    def _suggest(self, norm: str, names: Sequence[str]) -> list[str]:
        """Names close to the whole text, then endpoints sharing the most words with it."""
        labels: list[str] = []
        for name in names:
            target = self._index.names[name]
            if target.service:
                labels.append(target.service)
            else:
                labels.extend(self.entries[i].key for i in target.entries)
        labels.extend(self.entries[i].key for i in self._most_words(norm))
        return list(dict.fromkeys(labels))[:MAX_SUGGESTIONS]

    def _most_words(self, norm: str) -> list[int]:
        """Endpoints whose route has the most of the text's words (at least one)."""
        stems = set(_content_stems(_WORD.findall(norm)[:12]))
        hits: dict[int, int] = {}
        for stem in stems:
            for i in self._index.literal_words.get(stem, ()):
                hits[i] = hits.get(i, 0) + 1
        if not hits:
            return []
        best = max(hits.values())
        return self._best_first([i for i, n in hits.items() if n == best], norm)

    def _answer(self, said: str, found: _Found, read_as: str | None = None) -> Resolution:
        """``read_as`` is set when the text was taken for something else (a near miss)."""
        matches = [self.entries[i] for i in found.positions]
        if found.service:
            status: Status = "fuzzy" if read_as else "service"
            return Resolution(text=said, status=status, matches=matches, service=found.service,
                              read_as=read_as)
        if len(matches) > 1:
            matches = [self.entries[i] for i in self._best_first(found.positions, read_as or said)]
            return Resolution(text=said, status="ambiguous", matches=matches,
                              suggestions=[e.key for e in matches[:MAX_SUGGESTIONS]],
                              read_as=read_as)
        status = "fuzzy" if read_as else found.status
        return Resolution(text=said, status=status, matches=matches, read_as=read_as)

    def _best_first(self, positions: Sequence[int], text: str) -> list[int]:
        """Fewest route words the text did not mention first, then catalog order."""
        said = set(_content_stems(_split_words(text)))
        literal = self._index.literal_sets
        return sorted(positions, key=lambda i: (len(literal[i] - said), i))


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


@dataclass(frozen=True)
class _Found:
    positions: tuple[int, ...]
    status: Status
    service: str | None = None


def _split_method(norm: str) -> tuple[str, str]:
    """``"get /api/x"`` → ``("get", "/api/x")``; no method → ``("", norm)``."""
    method, _, rest = norm.partition(" ")
    if method.upper() in HTTP_METHODS and rest:
        return method, rest
    return "", norm


def _intersect(table: dict[str, set[int]], stems: Sequence[str]) -> list[int]:
    if not stems:
        return []
    sets = [table.get(stem) for stem in stems]
    if any(found is None for found in sets):
        return []
    common = set.intersection(*(found for found in sets if found is not None))
    return sorted(common)


def _echo(text: str) -> str:
    """The user's text as it is safe and short enough to repeat in a message."""
    clean = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text[:200])
    clean = _SPACES.sub(" ", clean).strip().strip(_QUOTES).strip()
    return clean if len(clean) <= 60 else clean[:59] + "…"
