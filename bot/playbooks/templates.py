"""Placeholder templates for PromQL, links and steps: checked at load, values escaped on render.

Label values go inside double-quoted PromQL strings (``escape_label_value``) or, after
``=~``/``!~``, as a literal regex (``escape_regex``); in a URL they are percent-encoded. Metric and
label *names* come from the settings, are checked to be names, and stand outside quotes.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Literal
from urllib.parse import quote, urlsplit

from pydantic import AfterValidator, BeforeValidator

from bot.metrics.promql import escape_label_value, escape_regex
from bot.playbooks.evidence import suggest


class Kind(StrEnum):
    LABEL = "label"  # a label value from the alert: quoted and escaped in PromQL
    NAME = "name"  # a metric or label name from the settings: outside quotes
    RANGE = "range"  # the rate window, e.g. 5m: outside quotes
    TIME = "time"  # epoch milliseconds: in links only


PLACEHOLDERS: dict[str, tuple[Kind, str]] = {
    "service": (Kind.LABEL, "the service's name as the metrics label it"),
    "endpoint": (Kind.LABEL, "the endpoint key, e.g. 'POST /api/checkout'"),
    "route": (Kind.LABEL, "the endpoint's route, e.g. '/api/checkout'"),
    "method": (Kind.LABEL, "the endpoint's HTTP method"),
    "namespace": (Kind.LABEL, "the alert's namespace label"),
    "instance": (Kind.LABEL, "the alert's instance label"),
    "http_histogram": (Kind.NAME, "the HTTP duration histogram, without _bucket/_count"),
    "service_label": (Kind.NAME, "the label naming the service on HTTP metrics (e.g. job)"),
    "route_label": (Kind.NAME, "the label naming the route (e.g. http_route)"),
    "method_label": (Kind.NAME, "the label naming the HTTP method"),
    "status_label": (Kind.NAME, "the label naming the HTTP status code"),
    "container_label": (Kind.NAME, "the label naming the service on cAdvisor metrics"),
    "window": (Kind.RANGE, "the rate window, e.g. 5m"),
    "from_ms": (Kind.TIME, "start of the alert's time range, epoch milliseconds"),
    "to_ms": (Kind.TIME, "end of the alert's time range (the alert time), epoch milliseconds"),
}

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
# RE2 syntax Python's re does not know; such regexes are left for Prometheus to judge.
_RE2_ONLY = re.compile(r"\\[pPQEC]|\[\[:")

Mode = Literal["label", "regex", "name", "range", "url", "text"]


@dataclass(frozen=True)
class Slot:
    name: str
    mode: Mode


class TemplateError(ValueError):
    """A template that cannot be used; ``line`` is its line (0-based) inside the template."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(message)
        self.line = line


class MissingValue(Exception):
    """The alert has no value for a placeholder the template needs."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


@dataclass(frozen=True)
class Template:
    """A template split into literal text and placeholder slots, checked once at load."""

    text: str
    parts: tuple[str | Slot, ...]

    def render(self, values: Mapping[str, str]) -> str:
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            value = values.get(part.name)
            if value is None:
                raise MissingValue(part.name)
            out.append(_escape(part, value))
        return "".join(out)


def _escape(slot: Slot, value: str) -> str:
    if slot.mode == "label":
        return escape_label_value(value)
    if slot.mode == "regex":
        return escape_regex(value)
    if slot.mode == "url":
        return quote(value, safe="")
    if slot.mode == "name":
        pattern = METRIC_NAME if slot.name == "http_histogram" else LABEL_NAME
        if not pattern.fullmatch(value):  # settings are validated too; this is the last guard
            raise MissingValue(slot.name)
        return value
    return value


def _line_at(text: str, index: int) -> int:
    return text.count("\n", 0, index)


def _unknown(name: str, text: str, index: int) -> TemplateError:
    return TemplateError(
        f"unknown placeholder {{{name}}}{suggest(name, PLACEHOLDERS)}; "
        f"known: {', '.join('{' + p + '}' for p in PLACEHOLDERS)}",
        _line_at(text, index),
    )


def compile_promql(text: object) -> Template:
    """A PromQL template: label placeholders only inside double-quoted strings, names outside."""
    if isinstance(text, Template):
        return text
    if not isinstance(text, str) or not text.strip():
        raise TemplateError(f"expected a PromQL query, got {text!r}")
    parts: list[str | Slot] = []
    depth: list[tuple[str, int]] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char in "\"'`":
            i = _quoted(text, i, parts)
            continue
        found = _PLACEHOLDER.match(text, i)
        if found:
            parts.append(_outside_slot(found, text))
            i = found.end()
            continue
        if char == "#":  # a PromQL comment runs to the end of the line
            end = text.find("\n", i)
            end = len(text) if end < 0 else end
            parts.append(text[i:end])
            i = end
            continue
        if char in "([{":
            depth.append((char, i))
        elif char in ")]}":
            opener = {")": "(", "]": "[", "}": "{"}[char]
            if not depth or depth[-1][0] != opener:
                raise TemplateError(f"unbalanced {char!r} at column {i + 1}", _line_at(text, i))
            depth.pop()
        parts.append(char)
        i += 1
    if depth:
        char, at = depth[-1]
        raise TemplateError(f"{char!r} at column {at + 1} is never closed", _line_at(text, at))
    return Template(text, _merge(parts))


def _outside_slot(found: re.Match[str], text: str) -> Slot:
    name = found[1]
    if name not in PLACEHOLDERS:
        raise _unknown(name, text, found.start())
    kind = PLACEHOLDERS[name][0]
    line = _line_at(text, found.start())
    if kind is Kind.LABEL:
        raise TemplateError(
            f"{{{name}}} is a label value: put it inside a double-quoted string, e.g. "
            f'{{service_label}}="{{{name}}}", so it is escaped', line)
    if kind is Kind.TIME:
        raise TemplateError(f"{{{name}}} is for links only, not for PromQL", line)
    return Slot(name, "name" if kind is Kind.NAME else "range")


def _quoted(text: str, start: int, parts: list[str | Slot]) -> int:
    """Read the string literal at ``start`` into ``parts``; return the index after it."""
    quote_char = text[start]
    i = start + 1
    while i < len(text) and text[i] != quote_char:
        i += 2 if text[i] == "\\" and quote_char != "`" else 1
    if i >= len(text):
        raise TemplateError(f"the string starting at column {start + 1} is never closed",
                            _line_at(text, start))
    body = text[start + 1 : i]
    before = text[:start].rstrip()
    mode: Mode = "regex" if before.endswith(("=~", "!~")) else "label"
    parts.append(quote_char)
    pos = 0
    for found in _PLACEHOLDER.finditer(body):
        name = found[1]
        where = start + 1 + found.start()
        if name not in PLACEHOLDERS:
            raise _unknown(name, text, where)
        kind = PLACEHOLDERS[name][0]
        if quote_char != '"':
            raise TemplateError(f"{{{name}}}: use double quotes around placeholders so the "
                                "value can be escaped", _line_at(text, where))
        if kind is not Kind.LABEL:
            raise TemplateError(f"{{{name}}} is a {kind.value}: write it outside quotes",
                                _line_at(text, where))
        parts.append(body[pos : found.start()])
        parts.append(Slot(name, mode))
        pos = found.end()
    parts.append(body[pos:])
    parts.append(quote_char)
    if mode == "regex":
        _check_regex(body, text, start)
    return i + 1


def _check_regex(body: str, text: str, start: int) -> None:
    """Catch a plainly broken regex literal; RE2-only syntax is left to Prometheus."""
    literal = _PLACEHOLDER.sub("x", body)
    pattern = re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m[1], "\\" + m[1])
                     if m[1] not in '"\\' else m[1], literal)
    if _RE2_ONLY.search(pattern):
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            re.compile(pattern)
    except re.error as exc:
        raise TemplateError(f"bad regex {body!r}: {exc}", _line_at(text, start)) from None


def _merge(parts: list[str | Slot]) -> tuple[str | Slot, ...]:
    merged: list[str | Slot] = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        elif part != "":
            merged.append(part)
    return tuple(merged)


def compile_url(text: object) -> Template:
    """A link: http(s) with a fixed host; every placeholder value is percent-encoded."""
    if isinstance(text, Template):
        return text
    if not isinstance(text, str) or not text.strip():
        raise TemplateError(f"expected a URL like 'https://...', got {text!r}")
    parts: list[str | Slot] = []
    pos = 0
    for found in _PLACEHOLDER.finditer(text):
        if found[1] not in PLACEHOLDERS:
            raise _unknown(found[1], text, found.start())
        parts += [text[pos : found.start()], Slot(found[1], "url")]
        pos = found.end()
    parts.append(text[pos:])
    head = text[: text.find("{")] if "{" in text else text
    split = urlsplit(head)
    # The host must end (at '/', '?' or '#') before the first placeholder.
    after_host = head[len(split.scheme) + 3 + len(split.netloc) :]
    if split.scheme not in ("http", "https") or not split.netloc or (
        "{" in text and not after_host
    ):
        raise TemplateError(f"expected an http(s) URL whose scheme and host are written out "
                            f"(placeholders only after the host), got {text!r}")
    return Template(text, _merge(parts))


def compile_text(text: str) -> Template:
    """Markdown steps: label values and metric/label names are placeholders (each one is filled
    on render); the rate window and times cannot be filled in prose and are refused. Braces
    around anything else (JSON, a route's ``{id}``) are text."""
    parts: list[str | Slot] = []
    pos = 0
    for found in _PLACEHOLDER.finditer(text):
        kind = PLACEHOLDERS.get(found[1], (None,))[0]
        if kind in (Kind.RANGE, Kind.TIME):
            usable = ", ".join("{" + name + "}" for name, (k, _) in PLACEHOLDERS.items()
                               if k in (Kind.LABEL, Kind.NAME))
            where = "queries" if kind is Kind.RANGE else "links"
            raise TemplateError(f"{{{found[1]}}} cannot be filled in steps (it is for {where}); "
                                f"steps can use {usable}", _line_at(text, found.start()))
        if kind is not None:
            parts += [text[pos : found.start()],
                      Slot(found[1], "name" if kind is Kind.NAME else "text")]
            pos = found.end()
    parts.append(text[pos:])
    return Template(text, _merge(parts))


def _steps(text: object) -> object:
    if isinstance(text, str):
        compile_text(text)  # refuses what cannot be filled; the text is kept as written
    return text


PromQLField = Annotated[Template, BeforeValidator(compile_promql)]
URLField = Annotated[Template, BeforeValidator(compile_url)]
StepsField = Annotated[str, AfterValidator(_steps)]
