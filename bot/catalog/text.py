"""Text normalisation for endpoint names: case, spaces, quotes, words, stems and route forms."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
STOPWORDS = frozenset({
    "a", "an", "the", "of", "for", "by", "on", "in", "to", "and", "at", "with",
    "api", "endpoint", "endpoints", "route", "routes",
})
SERVICE_WORDS = frozenset({"service", "services", "svc"})  # filler in "the search service"
_QUOTES = "\"'`‘’“”«»"
PLACEHOLDER = re.compile(r"^(?:\{[^/{}]*\}|<[^/<>]*>|:\w+)$")
_VERSION = re.compile(r"^v\d+$")
_CAMEL = re.compile(r"([a-z0-9])([A-Z])")
WORD = re.compile(r"[a-z0-9]+")
_URL_PREFIX = re.compile(r"^[a-z][a-z0-9+.-]*://[^/]*")
SPACES = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Case-, space- and quote-insensitive form of a name; a trailing slash is dropped."""
    text = unicodedata.normalize("NFKC", text)
    text = SPACES.sub(" ", _printable(text)).strip(" " + _QUOTES).casefold()
    text = _URL_PREFIX.sub("", text)
    if text.startswith("/"):
        text = re.split(r"[?#]", text, maxsplit=1)[0]  # a pasted URL's query string
    return strip_slash(text.rstrip("?!.,;:").strip())


def strip_slash(text: str) -> str:
    """Drop a trailing slash, but keep a root route: "/" and "get /" stay as they are."""
    stripped = text.rstrip("/")
    return stripped + "/" if text.endswith("/") and stripped[-1:] in ("", " ") else stripped


def split_words(text: str) -> list[str]:
    """Lower-case words, camelCase split: 'trackOrder/v2' → track, order, v2."""
    return WORD.findall(_CAMEL.sub(r"\1 \2", text).casefold())


def stem(word: str) -> str:
    """Singular and plural alike: orders → order, deliveries → delivery, address stays."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def content_stems(words: Iterable[str]) -> list[str]:
    """The stems of the words that carry meaning (no stopwords, no numbers)."""
    return [stem(w) for w in words if w not in STOPWORDS and not w.isdigit()]


def word_key(text: str) -> str:
    """The words of a name, stemmed, without filler: 'the Payments service' → 'payment'.
    Numbers stay: 'the payments-042 service' is not 'payments-000'."""
    return " ".join(stem(w) for w in split_words(text)
                    if w not in SERVICE_WORDS and w not in STOPWORDS)


def short_forms(route: str) -> list[str]:
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


# What a placeholder of a templated route stands for in a concrete path people type: an id,
# a number, a slug. ``robots.txt`` is not a value of ``/<page>`` (see ``Resolver._path``).
VALUE = r"[a-z0-9_-]+"
LOOSE_VALUE = r"[^/\s]+"


def route_template(route: str, value: str = VALUE) -> re.Pattern[str] | None:
    """A regex matching concrete paths of a (normalized) templated route
    (``/api/orders/123``), each placeholder's value matched by ``value``."""
    parts = route.split("/")
    if not any(PLACEHOLDER.match(part) for part in parts):
        return None
    return re.compile(
        "/".join(value if PLACEHOLDER.match(part) else re.escape(part) for part in parts)
    )


def echo(text: str) -> str:
    """The user's text as it is safe and short enough to repeat in a message."""
    clean = SPACES.sub(" ", _printable(text[:200])).strip().strip(_QUOTES).strip()
    return clean if len(clean) <= 60 else clean[:59] + "…"


def _printable(text: str) -> str:
    """Control and format characters (category C) replaced by spaces."""
    return "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
