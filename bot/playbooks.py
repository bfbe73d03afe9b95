"""Playbooks: what to do about an alert, as YAML files in ``playbooks/``.

A playbook says when it applies (``match``: signals, service and endpoint globs, labels and
conditions on evidence such as ``cpu > 0.85``), which PromQL to run for evidence
(``diagnostics``, templates with placeholders like ``{service}``), what to do (``steps``, in
markdown) and where to read more (``links``, URL templates).

Everything an author can get wrong is found when the file is loaded, with its file and line:
YAML syntax, unknown fields, a bad glob or regex, a condition on unknown evidence, an unknown
placeholder or one that would paste a value unescaped into PromQL. ``load_playbooks`` returns
the good playbooks and the list of problems, so one broken file never hides the others.

Placeholders take their values from the alert (the ``Situation``) and are inserted escaped for
where they stand: inside a double-quoted PromQL string as a label value (``escape_label_value``)
or, after ``=~``/``!~``, as a literal regex (``escape_regex``); in a URL percent-encoded.
Metric and label *names* (``{http_histogram}``, ``{service_label}``...) come from the settings,
are checked to be names, and stand outside quotes.
"""

from __future__ import annotations

import difflib
import math
import re
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from fnmatch import translate
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlsplit

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.config import SaturationMetrics, field_path
from bot.durations import format_duration
from bot.metrics.base import (
    Endpoint,
    MetricsBackend,
    MetricsError,
    NoDataError,
    Signal,
    Window,
)
from bot.metrics.base import SeriesValue as SeriesValue  # also this module's (was defined here)
from bot.metrics.conventions import CONVENTIONS, HttpMetrics
from bot.metrics.demo import Deploy
from bot.metrics.promql import escape_label_value, escape_regex

# ---- evidence: what conditions may test ---------------------------------------------------

EvidenceValue = bool | float | str
EvidenceType = Literal["number", "bool", "choice"]


@dataclass(frozen=True)
class EvidenceKind:
    """One name conditions may use: its type and what it means."""

    name: str
    type: EvidenceType
    meaning: str
    choices: tuple[str, ...] = ()


CHANGES = ("step", "spike", "trend", "drop")

EVIDENCE: dict[str, EvidenceKind] = {
    kind.name: kind
    for kind in (
        EvidenceKind("cpu", "number", "CPU use as a share of the service's CPU limit (0..1)"),
        EvidenceKind("cpu_throttled", "number",
                     "share of CFS periods in which the container was throttled (0..1)"),
        EvidenceKind("memory", "number", "memory working set as a share of the limit (0..1)"),
        EvidenceKind("memory_growth_per_day", "number",
                     "memory gained in a day, as a share of the limit (same time yesterday)"),
        EvidenceKind("restarts", "number", "container restarts in the last hour"),
        EvidenceKind("oom_killed", "bool", "a container was OOM-killed in the last hour"),
        EvidenceKind("error_ratio", "number", "share of requests answered 5xx (0..1)"),
        EvidenceKind("latency_p95", "number", "95th percentile latency, seconds"),
        EvidenceKind("latency_ratio", "number", "p95 latency now over its baseline"),
        EvidenceKind("throughput_ratio", "number", "requests per second now over the baseline"),
        EvidenceKind("change", "choice", "the shape of the change the detector saw", CHANGES),
        EvidenceKind("after_deploy", "bool",
                     "the service was deployed at most 2h before the change began"),
        EvidenceKind("minutes_since_deploy", "number",
                     "minutes from the service's last deploy to the start of the change"),
        EvidenceKind("gc_time_ratio", "number", "share of wall-clock time spent in GC pauses"),
        EvidenceKind("pool_pending", "number",
                     "requests waiting for a database connection from the pool"),
        EvidenceKind("pool_usage", "number", "connections in use over the pool's maximum"),
        EvidenceKind("db_calls_per_request", "number", "database queries per HTTP request"),
        EvidenceKind("cache_hit_ratio", "number", "cache hits over lookups (0..1)"),
        EvidenceKind("cache_miss_rate_ratio", "number",
                     "cache misses per second now over the baseline"),
        EvidenceKind("disk_busy", "number",
                     "share of time the busiest disk had I/O in flight (0..1)"),
        EvidenceKind("downstream_latency_ratio", "number",
                     "latency of calls to dependencies now over the baseline"),
        EvidenceKind("replicas_at_max", "bool", "the autoscaler runs its maximum replicas"),
    )
}

AFTER_DEPLOY_WINDOW = timedelta(hours=2)


def _suggest(word: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_evidence(name: str, value: object) -> EvidenceValue:
    """``value`` as the evidence ``name`` holds it; ValueError says what was expected."""
    kind = EVIDENCE.get(name)
    if kind is None:
        raise ValueError(f"unknown evidence {name!r}{_suggest(name, EVIDENCE)}")
    if kind.type == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"evidence {name!r} is true or false, got {value!r}")
        return value
    if kind.type == "choice":
        if value not in kind.choices:
            raise ValueError(f"evidence {name!r} is one of {', '.join(kind.choices)}, "
                             f"got {value!r}")
        return str(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"evidence {name!r} is a finite number, got {value!r}")
    return float(value)


# ---- patterns: globs, or regexes after "re:" ----------------------------------------------

_GLOB_CHARS = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class Pattern:
    """A glob (``orders*``) or, written ``re:...``, a regex; both must match the whole text."""

    text: str
    regex: re.Pattern[str]
    specificity: int  # 2 exact, 1 partly literal, 0 anything

    def matches(self, value: str) -> bool:
        return self.regex.fullmatch(value) is not None


def parse_pattern(value: object) -> Pattern:
    if isinstance(value, Pattern):
        return value
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected a glob like 'orders*' or a regex like 're:^GET /api/.*', "
                         f"got {value!r}")
    if value.startswith("re:"):
        try:
            regex = re.compile(value[3:])
        except re.error as exc:
            raise ValueError(f"bad regex {value[3:]!r}: {exc}") from None
        return Pattern(value, regex, 1)
    literal = _GLOB_CHARS.sub("", value)
    if literal == value:
        specificity = 2
    elif literal.strip("]!"):
        specificity = 1
    else:
        specificity = 0
    return Pattern(value, re.compile(translate(value)), specificity)


PatternField = Annotated[Pattern, BeforeValidator(parse_pattern)]

# ---- conditions: "<name> <op> <literal>", "<name>", "not <name>" ----------------------------

Op = Literal[">", ">=", "<", "<=", "==", "!="]
_CONDITION = re.compile(
    r"\s*(?P<not>not\s+)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*"
    r"(?:(?P<op>>=|<=|==|!=|>|<)\s*(?P<literal>.*?))?\s*"
)
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?%?")
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    ">": lambda a, b: bool(a > b),
    ">=": lambda a, b: bool(a >= b),
    "<": lambda a, b: bool(a < b),
    "<=": lambda a, b: bool(a <= b),
    "==": lambda a, b: bool(a == b),
    "!=": lambda a, b: bool(a != b),
}


@dataclass(frozen=True)
class Condition:
    """A test on one piece of evidence, parsed once when the playbook loads."""

    text: str
    name: str
    op: Op | None  # None: the bare name is a boolean
    value: EvidenceValue
    negate: bool = False

    def check(self, evidence: Mapping[str, EvidenceValue]) -> tuple[bool, str]:
        """Whether it holds, and a sentence saying why (or why not)."""
        if self.name not in evidence:
            return False, f"`{self.text}`: no {self.name} evidence for this alert"
        actual = evidence[self.name]
        if self.op is None:
            holds = actual is (not self.negate)
        else:
            holds = _COMPARE[self.op](actual, self.value)
        verdict = "holds" if holds else "does not hold"
        return holds, f"`{self.text}` {verdict} ({self.name} is {format_evidence(actual)})"


def parse_condition(value: object) -> Condition:
    if isinstance(value, Condition):
        return value
    if not isinstance(value, str):
        raise ValueError(
            f"expected a condition like 'cpu > 0.85', 'change == \"step\"' or 'after_deploy', "
            f"got {value!r}"
        )
    found = _CONDITION.fullmatch(value)
    if not found:
        raise ValueError(f"expected '<evidence> <op> <value>' with op one of > >= < <= == !=, "
                         f"or a bare true/false evidence name, got {value!r}")
    name, op, literal = found["name"], _op(found["op"]), found["literal"]
    kind = EVIDENCE.get(name)
    if kind is None:
        raise ValueError(f"unknown evidence {name!r} in {value!r}{_suggest(name, EVIDENCE)}; "
                         f"known: {', '.join(EVIDENCE)}")
    text = " ".join(value.split())
    if op is None:
        if kind.type != "bool":
            raise ValueError(f"{value!r}: {name} is a {kind.type}, compare it "
                             f"(e.g. '{name} {'> 0.5' if kind.type == 'number' else '== ...'}')")
        return Condition(text, name, None, True, negate=bool(found["not"]))
    if found["not"]:
        raise ValueError(f"{value!r}: 'not' goes only before a bare true/false name; "
                         f"use the opposite operator instead")
    parsed = _literal(literal, value)
    _check_types(kind, op, parsed, value)
    return Condition(text, name, op, parsed)


def _op(text: str | None) -> Op | None:
    for op in (">", ">=", "<", "<=", "==", "!="):
        if text == op:
            return op
    return None


def _literal(text: str, condition: str) -> EvidenceValue:
    if _NUMBER.fullmatch(text):
        return float(text[:-1]) / 100 if text.endswith("%") else float(text)
    if text in ("true", "false"):
        return text == "true"
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    raise ValueError(f"{condition!r}: expected a number, a quoted string or true/false after "
                     f"the operator, got {text!r}" + (" (put text in quotes)" if text else ""))


def _check_types(kind: EvidenceKind, op: str, value: EvidenceValue, condition: str) -> None:
    if kind.type == "number":
        if isinstance(value, bool) or not isinstance(value, float):
            raise ValueError(f"{condition!r}: {kind.name} is a number, got {value!r}")
    elif op not in ("==", "!="):
        raise ValueError(f"{condition!r}: {kind.name} is a {kind.type}; use == or !=")
    elif kind.type == "bool" and not isinstance(value, bool):
        raise ValueError(f"{condition!r}: {kind.name} is true or false, got {value!r}")
    elif kind.type == "choice" and value not in kind.choices:
        raise ValueError(f"{condition!r}: {kind.name} is one of "
                         f"{', '.join(repr(c) for c in kind.choices)}, got {value!r}")


def _listify(value: object) -> object:
    """A single item where a list is expected: ``signals: latency``."""
    return [value] if isinstance(value, str) else value


ConditionField = Annotated[Condition, BeforeValidator(parse_condition)]


def format_evidence(value: EvidenceValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.3g}"
    return f'"{value}"'


# ---- placeholders and templates -----------------------------------------------------------


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
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
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
        pattern = _METRIC_NAME if slot.name == "http_histogram" else _LABEL_NAME
        if not pattern.fullmatch(value):  # settings are validated too; this is the last guard
            raise MissingValue(slot.name)
        return value
    return value


def _line_at(text: str, index: int) -> int:
    return text.count("\n", 0, index)


def _unknown(name: str, text: str, index: int) -> TemplateError:
    return TemplateError(
        f"unknown placeholder {{{name}}}{_suggest(name, PLACEHOLDERS)}; "
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
    """Markdown steps: known placeholders are filled when the value is plain, others kept."""
    parts: list[str | Slot] = []
    pos = 0
    for found in _PLACEHOLDER.finditer(text):
        if PLACEHOLDERS.get(found[1], (None,))[0] in (Kind.LABEL, Kind.NAME):
            parts += [text[pos : found.start()], Slot(found[1], "text")]
            pos = found.end()
    parts.append(text[pos:])
    return Template(text, _merge(parts))


PromQLField = Annotated[Template, BeforeValidator(compile_promql)]
URLField = Annotated[Template, BeforeValidator(compile_url)]

# ---- the schema ---------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Unit = Literal["", "seconds", "ratio", "bytes", "per_second", "count", "cores"]


class Diagnostic(_Strict):
    """A PromQL query run when the alert fires; its result is shown as evidence."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=60)
    description: str = ""
    query: PromQLField
    unit: Unit = ""


class Link(_Strict):
    title: str = Field(min_length=1)
    url: URLField


class Match(_Strict):
    """When a playbook applies: every criterion given must hold."""

    signals: Annotated[list[Signal], BeforeValidator(_listify)] = []
    services: Annotated[list[PatternField], BeforeValidator(_listify)] = []
    endpoints: Annotated[list[PatternField], BeforeValidator(_listify)] = []
    labels: dict[str, PatternField] = {}
    conditions: Annotated[list[ConditionField], BeforeValidator(_listify)] = []

    @property
    def empty(self) -> bool:
        return not (self.signals or self.services or self.endpoints or self.labels
                    or self.conditions)


class Playbook(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=80)
    title: str = Field(min_length=1)
    summary: str = Field(min_length=1)
    owner: str = Field(min_length=1)
    fallback: bool = False
    match: Match = Match()
    diagnostics: list[Diagnostic] = []
    steps: str = Field(min_length=1)
    links: list[Link] = []

    _path: Path | None = PrivateAttr(default=None)
    _line: int | None = PrivateAttr(default=None)

    @property
    def source(self) -> str:
        """``file:line`` of its id, when it came from a file."""
        return f"{self._path}:{self._line}" if self._path else ""

    @model_validator(mode="after")
    def _check(self) -> Playbook:
        if self.fallback and not self.match.empty:
            raise ValueError("a fallback playbook matches every alert: remove its 'match'")
        if not self.fallback and self.match.empty:
            raise ValueError("match: give at least one of signals, services, endpoints, labels "
                             "or conditions (or set 'fallback: true')")
        names = [d.name for d in self.diagnostics]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"diagnostics: the name {twice[0]!r} is used twice")
        return self


_MODELS: dict[str, type[BaseModel]] = {
    "": Playbook, "match": Match, "diagnostics": Diagnostic, "links": Link,
}

# ---- loading ------------------------------------------------------------------------------


class Problem(BaseModel):
    """One thing wrong with one file; ``str()`` is ``file:line: message``."""

    model_config = ConfigDict(frozen=True)

    path: Path
    line: int | None = None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else str(self.path)
        return f"{where}: {self.message}"


class LoadResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    playbooks: list[Playbook]
    problems: list[Problem]
    files: int = 0


def load_playbooks(directory: Path) -> LoadResult:
    """Every ``*.yaml``/``*.yml`` in ``directory``: the good playbooks and every problem."""
    if not directory.is_dir():
        problem = Problem(path=directory, message="no such folder of playbooks")
        return LoadResult(playbooks=[], problems=[problem])
    files = sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    playbooks: list[Playbook] = []
    problems: list[Problem] = []
    seen: dict[str, Playbook] = {}
    fallback: Playbook | None = None
    for path in files:
        playbook, found = load_playbook_file(path)
        problems += found
        if playbook is None:
            continue
        if playbook.id in seen:
            problems.append(_problem_at(playbook, f"duplicate id {playbook.id!r}: "
                                        f"{seen[playbook.id].source} has it already"))
            continue
        if playbook.fallback and fallback is not None:
            problems.append(_problem_at(playbook, f"a second fallback playbook: "
                                        f"{fallback.source} is the fallback already"))
            continue
        fallback = playbook if playbook.fallback else fallback
        seen[playbook.id] = playbook
        playbooks.append(playbook)
    return LoadResult(playbooks=playbooks, problems=problems, files=len(files))


def _problem_at(playbook: Playbook, message: str) -> Problem:
    return Problem(path=playbook._path or Path(), line=playbook._line, message=message)


def load_playbook_file(path: Path) -> tuple[Playbook | None, list[Problem]]:
    """One file: its playbook, or None and the problems (all of them, each with a line)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(path=path, message=f"cannot read it ({exc})")]
    return parse_playbook(text, path)


def parse_playbook(text: str, path: Path) -> tuple[Playbook | None, list[Problem]]:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        parts = [getattr(exc, "context", None), getattr(exc, "problem", None)]
        problem = ", ".join(str(p) for p in parts if p) or str(exc)
        return None, [Problem(path=path, line=mark.line + 1 if mark else None,
                              message=f"not valid YAML: {problem}")]
    finally:
        loader.dispose()
    if node is None:
        return None, [Problem(path=path, line=1, message="the file is empty")]
    if not isinstance(data, dict):
        return None, [Problem(path=path, line=node.start_mark.line + 1,
                              message="expected a mapping with id, title, summary, owner, "
                                      "match, diagnostics, steps and links")]
    problems = [Problem(path=path, line=line, message=message)
                for line, message in _duplicate_keys(node)]
    try:
        playbook = Playbook.model_validate(data)
    except ValidationError as exc:
        problems += [_validation_problem(error, node, path) for error in exc.errors()]
        return None, sorted(problems, key=lambda p: p.line or 0)
    if problems:
        return None, problems
    playbook._path = path
    playbook._line = _node_at(node, ("id",)).start_mark.line + 1
    return playbook, []


def _duplicate_keys(node: yaml.Node) -> Iterable[tuple[int, str]]:
    """PyYAML keeps the last of two equal keys silently; an author wants to know."""
    if isinstance(node, yaml.MappingNode):
        first: dict[str, int] = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                line = key.start_mark.line + 1
                if key.value in first:
                    yield line, f"duplicate key {key.value!r} (first on line {first[key.value]})"
                first.setdefault(key.value, line)
            yield from _duplicate_keys(value)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _duplicate_keys(item)


def _node_at(root: yaml.Node, loc: Sequence[int | str]) -> yaml.Node:
    """The deepest YAML node along ``loc`` (a pydantic error location)."""
    node = root
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if getattr(k, "value", None) == str(part)),
                         None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            child = node.value[part] if 0 <= part < len(node.value) else None
        if child is None:
            break
        node = child
    return node


def _validation_problem(error: Any, root: yaml.Node, path: Path) -> Problem:
    loc = tuple(error["loc"])
    node = _node_at(root, loc)
    line = node.start_mark.line + 1
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, TemplateError) and isinstance(node, yaml.ScalarNode):
        # A literal block keeps its lines: point at the one with the problem. Folded and
        # plain scalars join lines, so only their start is known.
        if node.style == "|":
            line += 1 + cause.line
        elif node.style == ">":
            line += 1
    return Problem(path=path, line=line, message=f"{field_path(loc)}: {_message(error, loc)}")


def _message(error: Any, loc: tuple[int | str, ...]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        parent = next((str(p) for p in reversed(loc[:-1]) if isinstance(p, str)), "")
        model = _MODELS.get(parent if parent in _MODELS else "", Playbook)
        known = list(model.model_fields)
        return (f"unknown field{_suggest(str(loc[-1]), known)}; expected one of "
                f"{', '.join(known)}")
    if kind == "missing":
        return "required field is missing"
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind == "string_pattern_mismatch":
        form = ("lowercase letters, digits and '_', starting with a letter (like "
                "'slowest_statements')" if loc[-1] == "name" else
                "lowercase letters, digits, '-' and '_' (like 'slow-db-query')")
        message = f"expected {form}, got {error.get('input')!r}"
    return message


# ---- matching -----------------------------------------------------------------------------


class Situation(BaseModel):
    """What an alert knows: the signal, where, its labels, and evidence about it."""

    model_config = ConfigDict(frozen=True)

    signal: Signal
    service: str
    endpoint: Endpoint | None = None
    labels: dict[str, str] = {}
    evidence: dict[str, EvidenceValue] = {}
    at: datetime | None = None

    @field_validator("evidence", mode="before")
    @classmethod
    def _known_evidence(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value
        return {str(name): check_evidence(str(name), item) for name, item in value.items()}

    @model_validator(mode="after")
    def _same_service(self) -> Situation:
        if self.endpoint and self.endpoint.service and self.endpoint.service != self.service:
            raise ValueError(f"the endpoint {self.endpoint.key} belongs to "
                             f"{self.endpoint.service!r}, not {self.service!r}")
        return self

    def placeholder_values(self) -> dict[str, str]:
        values = {"service": self.service}
        if self.endpoint is not None:
            values |= {"endpoint": self.endpoint.key, "route": self.endpoint.route}
            if self.endpoint.method:
                values["method"] = self.endpoint.method
        for label in ("namespace", "instance"):
            if label in self.labels:
                values[label] = self.labels[label]
        return values


class Evaluation(BaseModel):
    matched: bool
    score: int
    reasons: list[str]
    failures: list[str]


class PlaybookMatch(BaseModel):
    model_config = ConfigDict(frozen=True)

    playbook: Playbook
    score: int
    reasons: list[str]


def evaluate(playbook: Playbook, situation: Situation) -> Evaluation:
    """Whether ``playbook`` applies, how specifically, and why (or why not)."""
    if playbook.fallback:
        return Evaluation(matched=True, score=0, reasons=["fallback: applies to every alert"],
                          failures=[])
    reasons: list[str] = []
    failures: list[str] = []
    score = 0
    m = playbook.match
    if m.signals:
        listed = ", ".join(m.signals)
        if situation.signal in m.signals:
            score += 1
            reasons.append(f"signal {situation.signal} is one of: {listed}")
        else:
            failures.append(f"signal {situation.signal} is not one of: {listed}")
    if m.services:
        score += _pattern_step("service", situation.service, m.services, reasons, failures)
    if m.endpoints:
        if situation.endpoint is None:
            failures.append("the alert names no endpoint")
        else:
            score += _pattern_step("endpoint", situation.endpoint.key, m.endpoints, reasons,
                                   failures, route=situation.endpoint.route)
    for label, pattern in m.labels.items():
        value = situation.labels.get(label)
        if value is None:
            failures.append(f"the alert has no label {label}")
        elif pattern.matches(value):
            score += 1
            reasons.append(f"label {label}={value!r} matches {pattern.text!r}")
        else:
            failures.append(f"label {label}={value!r} does not match {pattern.text!r}")
    for condition in m.conditions:
        holds, reason = condition.check(situation.evidence)
        if holds:
            score += 1
            reasons.append(reason)
        else:
            failures.append(reason)
    return Evaluation(matched=not failures, score=score, reasons=reasons, failures=failures)


def _pattern_step(
    what: str, value: str, patterns: Sequence[Pattern], reasons: list[str], failures: list[str],
    route: str | None = None,
) -> int:
    """Best matching pattern's specificity; a pattern starting with '/' is tried on the route."""
    hits = [p for p in patterns
            if p.matches(route if route is not None and p.text.startswith("/") else value)]
    if not hits:
        listed = ", ".join(repr(p.text) for p in patterns)
        failures.append(f"{what} {value!r} matches none of {listed}")
        return 0
    best = max(hits, key=lambda p: p.specificity)
    reasons.append(f"{what} {value!r} matches {best.text!r}")
    return best.specificity


def match_playbooks(playbooks: Sequence[Playbook], situation: Situation) -> list[PlaybookMatch]:
    """Every playbook that applies, most specific first; the fallback always last."""
    matches = []
    for playbook in playbooks:
        result = evaluate(playbook, situation)
        if result.matched:
            matches.append(PlaybookMatch(playbook=playbook, score=result.score,
                                         reasons=result.reasons))
    return sorted(matches, key=lambda m: (m.playbook.fallback, -m.score, m.playbook.id))


# ---- rendering ----------------------------------------------------------------------------


class QueryNames(BaseModel):
    """Metric and label names that ``{http_histogram}``, ``{service_label}``... stand for."""

    model_config = ConfigDict(frozen=True)

    http_histogram: str = CONVENTIONS["otel"].histogram
    service_label: str = CONVENTIONS["otel"].service_label
    route_label: str = CONVENTIONS["otel"].route_label
    method_label: str = CONVENTIONS["otel"].method_label
    status_label: str = CONVENTIONS["otel"].status_label
    container_label: str = SaturationMetrics().service_label

    @model_validator(mode="after")
    def _names(self) -> QueryNames:
        if not _METRIC_NAME.fullmatch(self.http_histogram):
            raise ValueError(f"expected a metric name, got {self.http_histogram!r}")
        for field in ("service_label", "route_label", "method_label", "status_label",
                      "container_label"):
            if not _LABEL_NAME.fullmatch(getattr(self, field)):
                raise ValueError(f"{field}: expected a label name, got {getattr(self, field)!r}")
        return self

    @classmethod
    def of(cls, http: HttpMetrics, saturation: SaturationMetrics) -> QueryNames:
        return cls(
            http_histogram=http.histogram, service_label=http.service_label,
            route_label=http.route_label, method_label=http.method_label,
            status_label=http.status_label, container_label=saturation.service_label,
        )


class RenderedDiagnostic(BaseModel):
    name: str
    description: str
    unit: Unit
    query: str | None  # None when the alert lacks a value the query needs
    note: str = ""


class RenderedLink(BaseModel):
    title: str
    url: str | None
    note: str = ""


def _values(
    situation: Situation, names: QueryNames, window: timedelta, lookback: timedelta
) -> dict[str, str]:
    values = situation.placeholder_values() | names.model_dump()
    values["window"] = format_duration(window)
    if situation.at is not None:
        values["to_ms"] = str(int(situation.at.timestamp() * 1000))
        values["from_ms"] = str(int((situation.at - lookback).timestamp() * 1000))
    return values


def render_diagnostics(
    playbook: Playbook,
    situation: Situation,
    names: QueryNames | None = None,
    window: timedelta = timedelta(minutes=5),
) -> list[RenderedDiagnostic]:
    """The playbook's queries with the alert's values in them, escaped."""
    values = _values(situation, names or QueryNames(), window, timedelta(hours=1))
    rendered = []
    for d in playbook.diagnostics:
        try:
            query: str | None = d.query.render(values)
            note = ""
        except MissingValue as missing:
            query, note = None, f"not run: the alert has no {{{missing.name}}}"
        rendered.append(RenderedDiagnostic(name=d.name, description=d.description, unit=d.unit,
                                           query=query, note=note))
    return rendered


def render_links(
    playbook: Playbook, situation: Situation, lookback: timedelta = timedelta(hours=1)
) -> list[RenderedLink]:
    values = _values(situation, QueryNames(), timedelta(minutes=5), lookback)
    links = []
    for link in playbook.links:
        try:
            links.append(RenderedLink(title=link.title, url=link.url.render(values)))
        except MissingValue as missing:
            links.append(RenderedLink(title=link.title, url=None,
                                      note=f"the alert has no {{{missing.name}}}"))
    return links


_PLAIN = re.compile(r"[\w.:/@{}-]{1,120}")


def render_steps(playbook: Playbook, situation: Situation) -> str:
    """The steps with plain values (service names, routes) filled in; others left as written."""
    values = {k: v for k, v in situation.placeholder_values().items() if _PLAIN.fullmatch(v)}
    out = []
    for part in compile_text(playbook.steps).parts:
        if isinstance(part, str):
            out.append(part)
        else:
            out.append(values.get(part.name, "{" + part.name + "}"))
    return "".join(out)


# ---- running diagnostics ------------------------------------------------------------------

# An instant query: PromQL and a time in; out either ``SeriesValue``s (a backend's
# ``instant``, see ``InstantQueries``) or Prometheus's raw ``result`` list (vector samples
# ``{"metric": {...}, "value": [t, "v"]}``); failures raise MetricsError.
InstantQuery = Callable[[str, datetime], Sequence[Any]]


class DiagnosticResult(BaseModel):
    name: str
    description: str
    unit: Unit
    query: str | None
    values: list[SeriesValue] = []
    note: str = ""  # why there is no value: not run, failed, or no data

    def lines(self, limit: int = 5) -> list[str]:
        """``name: labels value`` lines for a person."""
        head = f"{self.name}" + (f" — {self.description}" if self.description else "")
        if not self.values:
            return [f"{head}: {self.note or 'no data'}"]
        rows = [f"{head}:"]
        for item in self.values[:limit]:
            labels = ", ".join(f"{k}={v}" for k, v in sorted(item.labels.items())
                               if k != "__name__")
            rows.append(f"  {format_unit(item.value, self.unit)}" + (f"  {{{labels}}}"
                                                                    if labels else ""))
        if len(self.values) > limit:
            rows.append(f"  … {len(self.values) - limit} more")
        return rows


def format_unit(value: float, unit: Unit) -> str:
    if not math.isfinite(value):
        return str(value)
    if unit == "seconds":
        return f"{value:.3g} s" if value >= 1 else f"{value * 1000:.3g} ms"
    if unit == "ratio":
        return f"{value * 100:.3g}%"
    if unit == "bytes":
        for size, name in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
            if abs(value) >= size:
                return f"{value / size:.3g} {name}"
        return f"{value:.0f} B"
    if unit == "per_second":
        return f"{value:.3g}/s"
    if unit == "cores":
        return f"{value:.3g} cores"
    return f"{value:.4g}"


def run_diagnostics(
    playbook: Playbook,
    situation: Situation,
    query: InstantQuery,
    at: datetime,
    names: QueryNames | None = None,
    window: timedelta = timedelta(minutes=5),
) -> list[DiagnosticResult]:
    """Run each diagnostic at ``at``; one that fails says why and never stops the others."""
    results = []
    for d in render_diagnostics(playbook, situation, names, window):
        result = DiagnosticResult(name=d.name, description=d.description, unit=d.unit,
                                  query=d.query, note=d.note)
        if d.query is not None:
            try:
                values = _series(query(d.query, at))
                note = "" if values else "no data"
            except MetricsError as exc:
                values, note = [], f"failed: {exc}"
            result = result.model_copy(update={"values": values, "note": note})
        results.append(result)
    return results


def _series(result: Sequence[Any]) -> list[SeriesValue]:
    """Vector samples, largest first; a scalar result is one sample without labels."""
    if len(result) == 2 and isinstance(result[0], int | float) and isinstance(result[1], str):
        return [SeriesValue(labels={}, value=float(result[1]))]
    values = []
    for sample in result:
        if isinstance(sample, SeriesValue):
            values.append(sample)
        elif isinstance(sample, Mapping) and "value" in sample:
            labels = {str(k): str(v) for k, v in dict(sample.get("metric") or {}).items()}
            values.append(SeriesValue(labels=labels, value=float(sample["value"][1])))
    return sorted(values, key=lambda s: -s.value if math.isfinite(s.value) else math.inf)


# ---- evidence from a metrics backend ------------------------------------------------------


def gather_evidence(
    backend: MetricsBackend,
    *,
    service: str,
    endpoint: Endpoint | None,
    at: datetime,
    baseline_at: datetime | None = None,
    since: datetime | None = None,
    deploys: Sequence[Deploy] = (),
    lookback: timedelta = timedelta(minutes=15),
) -> dict[str, EvidenceValue]:
    """What the metrics say about ``service`` (and ``endpoint``) at ``at``.

    Ratios compare ``at`` with ``baseline_at`` (default: a day earlier, which cancels the
    daily rhythm). ``since`` is when the change began (default ``at``); deploys of the
    service up to then give ``after_deploy`` and ``minutes_since_deploy``. Figures the
    backend has no data for are left out, so conditions on them do not hold.
    """
    baseline = baseline_at or at - timedelta(days=1)
    evidence: dict[str, EvidenceValue] = {}
    for name, read in (("cpu", backend.cpu), ("memory", backend.memory)):
        now_value = _service_value(read, service, at, lookback)
        if now_value is not None:
            evidence[name] = now_value
    day_before = _service_value(backend.memory, service, at - timedelta(days=1), lookback)
    if "memory" in evidence and day_before is not None:
        evidence["memory_growth_per_day"] = float(evidence["memory"]) - day_before
    if endpoint is not None:
        evidence |= _endpoint_evidence(backend, endpoint, at, baseline, lookback)
    start = since or at
    earlier = [d.time for d in deploys if d.service == service and d.time <= start]
    if earlier:
        minutes = (start - max(earlier)).total_seconds() / 60
        evidence["minutes_since_deploy"] = minutes
        evidence["after_deploy"] = minutes <= AFTER_DEPLOY_WINDOW.total_seconds() / 60
    else:
        evidence["after_deploy"] = False
    return evidence


def _service_value(
    read: Callable[..., Any], service: str, at: datetime, lookback: timedelta
) -> float | None:
    window = Window(start=at - lookback, end=at, step=lookback, rate_window=lookback)
    try:
        frame = read(window, [service])
    except NoDataError:
        return None
    value = float(frame[service].iloc[-1])
    return value if math.isfinite(value) else None


def _endpoint_evidence(
    backend: MetricsBackend, endpoint: Endpoint, at: datetime, baseline: datetime,
    lookback: timedelta,
) -> dict[str, EvidenceValue]:
    now = _summary(backend, endpoint, at, lookback)
    evidence: dict[str, EvidenceValue] = {}
    for name, column in (("error_ratio", "error_ratio"), ("latency_p95", "p95")):
        if math.isfinite(now.get(column, math.nan)):
            evidence[name] = now[column]
    before = _summary(backend, endpoint, baseline, lookback)
    for name, column in (("latency_ratio", "p95"), ("throughput_ratio", "throughput")):
        base = before.get(column, math.nan)
        ratio = now.get(column, math.nan) / base if base else math.nan
        if math.isfinite(ratio):
            evidence[name] = ratio
    return evidence


def _summary(
    backend: MetricsBackend, endpoint: Endpoint, at: datetime, lookback: timedelta
) -> dict[str, float]:
    """The endpoint's numeric summary columns at ``at``; empty when there is no data."""
    try:
        frame = backend.summary(at, lookback, [endpoint])
    except NoDataError:
        return {}
    numbers = frame.drop(columns=["service"]).astype(float)
    return {str(k): float(v) for k, v in numbers.to_dict("index")[endpoint.column].items()}
