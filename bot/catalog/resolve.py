"""Name resolution: what a person typed ("checkout", "order history", "chekout", "payments")
as catalog endpoints, through the name index, near-miss corrections and suggestions."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.catalog.index import Target, build_index
from bot.catalog.model import MAX_SUGGESTIONS, EndpointInfo, Resolution, Status
from bot.catalog.text import (
    HTTP_METHODS,
    SERVICE_WORDS,
    STOPWORDS,
    WORD,
    content_stems,
    echo,
    normalize,
    split_words,
    stem,
    word_key,
)

# Longer text is not a name (a pasted log line, a query, an attack); it is not matched at all.
MAX_TEXT = 200
# Fuzzy matching: a word must be this close to a known one to be corrected silently;
# below SUGGEST_CUTOFF a name is not even offered as a suggestion.
WORD_CUTOFF = 0.85  # one typo in 7 letters; "trace" is not taken for "track"
NAME_CUTOFF = 0.85
SUGGEST_CUTOFF = 0.6
MIN_FUZZY_WORD = 4  # shorter words have too many neighbours to guess safely


class Resolver:
    """Resolves names against the catalog's entries, with indexes computed once."""

    def __init__(self, entries: Sequence[EndpointInfo]) -> None:
        self.entries = entries
        self._index = build_index(entries)
        self._names = [(name, len(name)) for name in self._index.names]
        self._vocabulary = list(self._index.vocabulary)

    def service(self, name: str) -> str | None:
        """The service called ``name`` (case- and space-insensitive), if any."""
        return self._index.service.get(normalize(name))

    def resolve(self, text: str) -> Resolution:
        """What ``text`` names. Never raises: anything unrecognised is ``unknown``.

        Steps, first hit wins: a name as written (key, route, alias, service, short route);
        for one typed path, a concrete path of a templated route (``/api/orders/123``), else
        "did you mean" (``_path``); for words, the same names after correcting near-miss
        words; the words of routes; those words corrected; the closest whole name.
        """
        said = echo(text)
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
        if _is_path(norm):
            return self._path(said, norm)
        return self._loosely(said, norm)

    def _path(self, said: str, norm: str) -> Resolution:
        """A typed path that is not a catalog route as written: a concrete path of a
        templated route (``/api/orders/123``: the placeholder's value a plain word or
        number), else unknown, with what a looser reading would have matched as
        suggestions. A path only matched after its characters were changed (a typo
        corrected, ``.`` or ``(`` read as a space) is a "did you mean", never an answer:
        ``/robots.txt`` is not ``GET /<page>``, ``/api/orders/histry`` not an order."""
        corrected = self._correct_words(norm)
        typo = self._by_name(corrected) if corrected else None
        if not isinstance(typo, _Found):
            found = self._by_template(norm)
            if found:
                return self._answer(said, found)
        method, rest = _split_method(norm)
        skeleton = re.sub(r"[^a-z0-9/{}_-]+", "", rest)  # the odd characters left out
        near = self._index.full.get(skeleton, [])
        if isinstance(typo, _Found):
            near = [*near, *typo.positions]
        near += [i for pattern, i in self._index.loose_templates if pattern.fullmatch(rest)]
        labels = [self.entries[i].key for i in near
                  if not method or self.entries[i].endpoint.method == method.upper()]
        loose = self._loosely(said, norm)
        if loose.service:
            labels.append(loose.service)
        labels += [entry.key for entry in loose.matches] + list(loose.suggestions)
        return Resolution(text=said, status="unknown",
                          suggestions=list(dict.fromkeys(labels))[:MAX_SUGGESTIONS])

    def _loosely(self, said: str, norm: str) -> Resolution:
        """Words, not a path: near misses corrected, route words, the closest name."""
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
        aliases = index.alias.get(rest) or (index.alias.get(word_key(rest), []) if words else [])
        found = self._filtered(aliases, method, "alias")
        if found:
            return found
        service = index.service.get(norm) or (index.service.get(word_key(norm)) if words else None)
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
        words = [w for w in WORD.findall(norm) if w not in STOPWORDS and not w.isdigit()]
        if not words or len(words) > 12:
            return None
        methods = [w for w in words if w.upper() in HTTP_METHODS]
        method = methods[0] if len(methods) == 1 else ""
        attempts = [([w for w in words if w != method], method)] if method else []
        attempts.append((words, ""))  # "delete" may be a route word, not the method
        for content, wanted in attempts:
            stems = [stem(w) for w in content if w not in SERVICE_WORDS] or [
                stem(w) for w in content
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

    def _found(self, target: Target) -> _Found:
        if target.service:
            return _Found(self._index.service_positions[target.service], "service", target.service)
        return _Found(target.entries, "exact")

    def _correct_words(self, norm: str) -> str | None:
        """Replace each unknown word by the known word it is a near miss of, if all are."""
        vocabulary = self._index.vocabulary
        changed = False
        out = []
        for token in re.split(r"([a-z0-9]+)", norm):
            if not token or not token[0].isalnum() or stem(token) in vocabulary:
                out.append(token)
                continue
            if (
                token in STOPWORDS
                or token in SERVICE_WORDS
                or token.isdigit()
                or token.upper() in HTTP_METHODS
            ):
                out.append(token)
                continue
            if len(token) < MIN_FUZZY_WORD:
                return None
            close = difflib.get_close_matches(
                stem(token), self._vocabulary, n=1, cutoff=WORD_CUTOFF
            ) or self._abbreviated(stem(token))
            if not close:
                return None
            out.append(vocabulary[close[0]])
            changed = True
        return "".join(out) if changed else None

    def _abbreviated(self, word: str) -> list[str]:
        """The one catalog word ``word`` begins ("promo" → "promotion"); none when several
        do, or the word is too short to stand for one."""
        if len(word) < MIN_FUZZY_WORD:
            return []
        longer = [known for known in self._vocabulary
                  if known.startswith(word) and len(known) > len(word)]
        return longer if len(longer) == 1 else []

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
        stems = set(content_stems(WORD.findall(norm)[:12]))
        hits: dict[int, int] = {}
        for found in stems:
            for i in self._index.literal_words.get(found, ()):
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
        said = set(content_stems(split_words(text)))
        literal = self._index.literal_sets
        return sorted(positions, key=lambda i: (len(literal[i] - said), i))



@dataclass(frozen=True)
class _Found:
    positions: tuple[int, ...]
    status: Status
    service: str | None = None


def _is_path(norm: str) -> bool:
    """One typed path (``/api/x``, ``get /api/x``), not a path followed by words."""
    rest = _split_method(norm)[1]
    return rest.startswith("/") and " " not in rest


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

