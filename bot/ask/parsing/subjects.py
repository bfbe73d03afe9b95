"""Step 5 of parsing: the words left over, looked up in the catalog as endpoint and service names.

Only catalog keys and service names come out; a phrase the catalog cannot place is kept (short)
with its suggestions, for the help reply, and never selects metrics.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.ask.parsing.phrases import Draft
from bot.ask.parsing.vocabulary import BREAKERS, FILLER, METHODS, STOPWORDS, Lexicon
from bot.catalog import Catalog, Resolution

MAX_RUN = 6  # words looked up in the catalog as one name
MAX_PIECES = 20  # catalog look-ups per question: text beyond that is noise, not names


def _tokens(rest: str) -> list[str]:
    """Words, paths and separators; separators come out as ","."""
    tokens: list[str] = []
    for raw in re.split(r"[\s;]+|(,)", rest):
        if raw is None or raw == "":
            continue
        if raw == ",":
            tokens.append(",")
            continue
        if raw.startswith("/"):
            # "%" marks what the path had that no route has (see ``normalise``): kept.
            path = re.sub(r"[^a-z0-9_{}./:%-]", "", raw).rstrip(".,:")
            tokens.append(path or ",")
            continue
        # Braces outside a path are query syntax ("checkout\"}"): kept, to be reported.
        for part in re.findall(r"[a-z0-9_-]+|[{}]", raw) or [","]:
            tokens.append(part.strip("-_") or ",")
    return tokens


def _runs(tokens: list[str]) -> list[list[str]]:
    """Groups of consecutive name words; filler stays inside a group, stopwords split it."""
    runs: list[list[str]] = []
    current: list[str] = []
    for i, token in enumerate(tokens):
        next_token = tokens[i + 1] if i + 1 < len(tokens) else ""
        if token in METHODS and next_token.startswith("/"):
            current.append(token)
            continue
        if token == "/" and not (current and current[-1] in METHODS):
            token = ","  # a lone slash names the root route only after a method: "GET /"
        if token in BREAKERS or token in STOPWORDS or token in METHODS or token in ("{", "}"):
            if current:
                runs.append(current)
            current = []
            if token in ("{", "}"):
                runs.append([token])
            continue
        current.append(token)
    if current:
        runs.append(current)
    # A group of only filler ("endpoints" in "top 5 slowest endpoints") names nothing.
    return [run for run in runs if any(word not in FILLER for word in run)]


@dataclass
class Found:
    """The endpoints and services named, and the first phrase the catalog could not place."""

    endpoints: list[str] = field(default_factory=list)
    services: list[str] = field(default_factory=list)
    unresolved: str | None = None
    suggestions: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Names:
    """Catalog look-ups for one question, through the catalog's memo."""

    catalog: Catalog
    lexicon: Lexicon

    def resolve(self, phrase: str) -> Resolution:
        return self.lexicon.resolve(self.catalog, phrase)


def find_subjects(rest: str, catalog: Names, draft: Draft) -> tuple[Found, list[str]]:
    """Look the remaining words up in the catalog; returns the finds and the unknown words."""
    found = Found()
    unknown: list[str] = []
    lookups = 0
    for run in _runs(_tokens(rest)):
        start = 0
        pending: list[str] = []  # consecutive words that named nothing: reported as one phrase
        while start < len(run):
            if lookups >= MAX_PIECES:
                pending.extend(run[start:])
                break
            piece, resolution, lookups = _longest_name(run, start, catalog, lookups)
            start += len(piece)
            if resolution is None or not _named(resolution):
                if resolution is not None and resolution.status == "ambiguous":
                    _unresolved(" ".join(piece), resolution, found, draft, unknown)
                else:
                    pending.extend(piece)
                continue
            lookups = _flush(pending, catalog, lookups, found, draft, unknown)
            accept(" ".join(piece), resolution, found, draft)
        _flush(pending, catalog, lookups, found, draft, unknown)
    return found, unknown


def _flush(
    pending: list[str],
    catalog: Names,
    lookups: int,
    found: Found,
    draft: Draft,
    unknown: list[str],
) -> int:
    if not pending:
        return lookups
    phrase = " ".join(pending)
    pending.clear()
    resolution = None
    if lookups < MAX_PIECES and not phrase.isdigit():
        resolution = catalog.resolve(phrase)  # for its suggestions
        lookups += 1
    _unresolved(phrase, resolution, found, draft, unknown)
    return lookups


def _longest_name(
    run: list[str], start: int, catalog: Names, lookups: int
) -> tuple[list[str], Resolution | None, int]:
    """The longest words from ``start`` that name something; else the first word alone."""
    first: Resolution | None = None
    for end in range(min(len(run), start + MAX_RUN), start, -1):
        piece = run[start:end]
        if all(word in FILLER for word in piece) or piece[-1] in METHODS:
            continue
        resolution = catalog.resolve(" ".join(piece))
        lookups += 1
        if _named(resolution):
            return piece, resolution, lookups
        if end == start + 1:
            first = resolution
        if lookups >= MAX_PIECES:
            break
    return run[start : start + 1], first, lookups


def _named(resolution: Resolution) -> bool:
    """Whether the resolution names something to answer about (a shared key: all of them)."""
    return resolution.status not in ("unknown", "ambiguous") or resolution.shared_key


def accept(phrase: str, resolution: Resolution, found: Found, draft: Draft) -> None:
    if resolution.service:
        if resolution.service not in found.services:
            found.services.append(resolution.service)
        named = f"the {resolution.service} service"
    else:
        keys = [entry.label for entry in resolution.matches]  # unique, unlike shared keys
        found.endpoints.extend(key for key in keys if key not in found.endpoints)
        named = ", ".join(keys)
    if resolution.status == "fuzzy":
        draft.understood.append(f"read '{phrase}' as {named}")
        draft.read_as.append(f"read '{phrase}' as {named}")


def _unresolved(
    phrase: str,
    resolution: Resolution | None,
    found: Found,
    draft: Draft,
    unknown: list[str],
) -> None:
    if len(phrase) < 2 or not re.search(r"[a-z]", phrase):  # digits, braces: query debris
        unknown.append(phrase)
        draft.not_understood.append(f"'{phrase}': not understood")
        return
    if resolution is not None and (resolution.suggestions or resolution.status == "ambiguous"):
        message = resolution.message
        suggestions = list(resolution.suggestions)
    else:
        message = f"'{phrase[:60]}': not a measure, time or endpoint I know"
        suggestions = []
    unknown.append(phrase)
    draft.not_understood.append(message)
    if found.unresolved is None:
        found.unresolved = phrase[:60]
        found.suggestions = suggestions
