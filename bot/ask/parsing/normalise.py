"""Step 1 of parsing: Slack message text → plain lowercase ASCII words, paths, times, symbols.

Words are flattened (punctuation, accents, markup out); a typed path is kept as typed, so
that the catalog can tell a route named as written from one that only resembles it."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

MAX_TEXT = 500  # characters of meaningful text read; the rest is ignored (and said so)
MAX_RAW = 20_000  # characters of raw input looked at, before any markup is removed

_MENTION = re.compile(r"<[@!][^<>]{0,200}>")  # <@U123>, <@U123|name>, <!here>
_CHANNEL = re.compile(r"<#[^<>]{0,200}>")
_LINK = re.compile(r"<((?:https?|mailto|ftp):[^<>|]{0,2000})(?:\|([^<>]{0,500}))?>")
_STRUCK = re.compile(r"(?<![\w~])~[^~\n]{1,200}~(?![\w~])")
_CODE_FENCE = re.compile(r"```")
_SHORTCODE = re.compile(r":[a-z0-9_+'-]*[a-z][a-z0-9_+'-]*:", re.IGNORECASE)
_POSSESSIVE = re.compile(r"'s\b")
_EDGE_UNDERSCORE = re.compile(r"(?<![a-z0-9])_+|_+(?![a-z0-9])")
_LONE_DOT = re.compile(r"(?<!\d)\.|\.(?!\d)")
_DISALLOWED = re.compile(r"[^a-z0-9 /{}:.,%$&_-]")
_SPACE_BEFORE_COMMA = re.compile(r"\s*,+\s*")
SPACES = re.compile(r"\s+")
# A path typed as a word of its own (after an opening bracket, a quote or a list's comma at
# most), to its query string, fragment, comma or closing punctuation; a dot ends it only
# before a space.
_PATH = re.compile(r"(?<![^\s(\[\"'`*_“‘«,;])(?P<path>/[^\s?#,;]*?)"
                   r"(?=[.,;:!?)\]\"'`*_”’»]*(?:[?#,;]|\s|$))")
# A route typed without its leading slash, recognisable by a placeholder or an "api/" start:
# "orders/{order_id}", "api/checkout" (not "req/s" or "errors/min").
_SLASHLESS = re.compile(r"(?<![^\s(\[\"'`*_“‘«,;])(?=[a-z0-9_-]+/)"
                        r"(?=api/|[^\s]*[{<])[a-z0-9_-]+(?:/[^\s/?#,;]+)+", re.IGNORECASE)
_ANGLED = re.compile(r"<([a-z0-9_]+)>")
_NOT_PATH = re.compile(r"[^a-z0-9/{}_.:%-]")
_ASCII_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TRANSLATE = str.maketrans({
    "‘": "'", "’": "'", "‚": "'", "‛": "'", "′": "'",
    "“": " ", "”": " ", "„": " ", "«": " ", "»": " ", '"': " ", "`": " ", "*": " ",
    "–": "-", "—": "-", "−": "-", "‐": "-", "‑": "-",
    "€": "$",  # currency only marks a cost question; one symbol is enough
    "?": " ", "!": " ", ";": ",", "(": " ", ")": " ", "[": " ", "]": " ", "|": " ",
    "<": " ", ">": " ", "=": " ", "~": " ", "^": " ", "\\": " ", "#": " ", "@": " ",
    "+": " ",
})  # fmt: skip


def normalise(text: str) -> str:
    """Slack message text → lowercase ASCII words, paths, times and a few symbols."""
    text = text[:MAX_RAW]
    text = _MENTION.sub(" ", text)
    text = _CHANNEL.sub(" ", text)
    text = _LINK.sub(_link_text, text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    text = _CODE_FENCE.sub(" ", text)
    text = _STRUCK.sub(" ", text)  # struck-out words were taken back by the asker
    text = _SHORTCODE.sub(" ", text)
    text = SPACES.sub(" ", text)[: 8 * MAX_TEXT]  # plenty: at most MAX_TEXT are read
    text = _SLASHLESS.sub(lambda match: "/" + match[0], text)
    # Typed paths are kept as typed (see ``_path``), the words around them flattened.
    pieces, start = [], 0
    for match in _PATH.finditer(text):
        pieces += [_words(text[start:match.start()]), _path(match["path"])]
        start = match.end("path")
    pieces.append(_words(text[start:]))
    text = _SPACE_BEFORE_COMMA.sub(", ", " ".join(pieces))
    return SPACES.sub(" ", text).strip(" ,.:-")


def _words(text: str) -> str:
    """Words: plain lowercase ASCII, punctuation and symbols as spaces."""
    if text.isascii():
        text = _ASCII_CONTROL.sub(" ", text)
    else:
        text = unicodedata.normalize("NFKD", text)
        text = "".join(_plain_char(ch) for ch in text)
    text = text.casefold()
    text = text.translate(_TRANSLATE)
    text = _POSSESSIVE.sub("", text).replace("'", " ")
    text = _EDGE_UNDERSCORE.sub(" ", text)
    text = _LONE_DOT.sub(" ", text)  # keep decimals ("p99.9"), drop sentence dots
    return _DISALLOWED.sub(" ", text)


def _path(path: str) -> str:
    """A typed path as it was typed, lowercased, so that it matches a catalog route only as
    written: ``/robots.txt`` keeps its dot (it is not ``/robots`` and a word ``txt``).
    Anything a route is not made of (``(``, ``|``, ``*``, accents…) becomes ``%``, which
    no route or placeholder value holds: the path then names nothing, and the catalog
    offers what it resembles ("did you mean")."""
    path = _ANGLED.sub(r"{\1}", path.casefold())  # a placeholder as in "GET /<page>"
    return _NOT_PATH.sub("%", path)


def _link_text(match: re.Match[str]) -> str:
    label = match[2]
    if label:
        return f" {label} "
    path = urlsplit(match[1]).path if match[1].startswith("http") else ""
    return f" {path} " if path not in ("", "/") else " "


def _plain_char(ch: str) -> str:
    if ch.isascii():
        return ch if ch.isprintable() else " "
    category = unicodedata.category(ch)
    if category == "Mn":  # accents split off by NFKD, variation selectors
        return ""
    if ch in "‘’‚‛′“”„«»–—−‐‑€":
        return ch
    return " "  # emoji, symbols, controls, other scripts
