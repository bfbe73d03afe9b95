"""PromQL's syntax for ``promql``: names checked, label values and regexes escaped, selectors,
ranges and numbers written. Pure functions, no I/O.

Label values only ever enter a query through ``escape_label_value``/``escape_regex``, so a
value can match nothing but itself.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from datetime import timedelta

from bot.durations import format_duration

# Everything RE2 treats as special outside a character class.
RE2_METACHARACTERS = frozenset("\\.+*?()|[]{}^$")

_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")

class SelectorError(ValueError):
    """A query that cannot be built: a bad quantile, range or filter, or a bad name."""


class BadNameError(SelectorError):
    """A metric name, label name or operator-written selector (from the settings) is unusable."""


def escape_label_value(value: str) -> str:
    """The body of a double-quoted PromQL string that equals ``value``."""
    return (
        value.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
    )


def escape_regex(value: str) -> str:
    """The body of a double-quoted PromQL string whose RE2 regex matches exactly ``value``."""
    literal = "".join(f"\\{ch}" if ch in RE2_METACHARACTERS else ch for ch in value)
    return escape_label_value(literal)


def regex_alternation(values: Iterable[str]) -> str:
    """A regex (unescaped for PromQL) matching any of ``values`` literally, in a stable order."""
    return "|".join(
        "".join(f"\\{ch}" if ch in RE2_METACHARACTERS else ch for ch in value)
        for value in sorted(set(values))
    )


def check_label_name(name: str) -> str:
    if not _LABEL_NAME.fullmatch(name):
        raise BadNameError(f"expected a label name like 'http_route', got {name!r}")
    return name


def split_selector(text: str) -> tuple[str, str]:
    """``'m{a="b"}'`` → ``("m", 'a="b"')``; a bare name has an empty matcher list."""
    text = text.strip()
    if "{" not in text:
        if not _METRIC_NAME.fullmatch(text):
            raise BadNameError(f"expected a metric name like 'http_requests_total', got {text!r}")
        return text, ""
    name, _, rest = text.partition("{")
    name = name.strip()
    if name and not _METRIC_NAME.fullmatch(name):
        raise BadNameError(f"expected a metric name before '{{', got {name!r}")
    if not rest.rstrip().endswith("}"):
        raise BadNameError(f"expected the selector to end with '}}', got {text!r}")
    matchers = rest.rstrip()[:-1].strip().rstrip(",").strip()
    if not name and not matchers:
        raise BadNameError(f"expected a metric name or matchers, got {text!r}")
    return name, matchers


def selector(
    metric: str,
    equals: Mapping[str, str] | None = None,
    regex: Mapping[str, str] | None = None,
    not_equals: Mapping[str, str] | None = None,
) -> str:
    """``metric{label="value", label=~"regex"}`` with every value escaped.

    ``metric`` may carry an operator-written selector (``limits{resource="cpu"}``); the new
    matchers are added to it. ``regex`` values are regexes already (see ``regex_alternation``)
    and are only string-escaped here.
    """
    name, fixed = split_selector(metric)
    matchers = [fixed] if fixed else []
    for label, value in (equals or {}).items():
        matchers.append(f'{check_label_name(label)}="{escape_label_value(value)}"')
    for label, value in (not_equals or {}).items():
        matchers.append(f'{check_label_name(label)}!="{escape_label_value(value)}"')
    for label, pattern in (regex or {}).items():
        matchers.append(f'{check_label_name(label)}=~"{escape_label_value(pattern)}"')
    if not matchers:
        return name
    return f"{name}{{{', '.join(matchers)}}}"


def range_literal(delta: timedelta) -> str:
    """``[5m]``; Prometheus needs a whole, positive number of seconds at least."""
    if delta < timedelta(seconds=1):
        raise SelectorError(f"expected a range of at least 1s, got {delta}")
    return f"[{format_duration(delta)}]"


def number(value: float) -> str:
    """A float as PromQL reads it; NaN and infinities are refused."""
    if isinstance(value, bool) or not math.isfinite(value):
        raise SelectorError(f"expected a finite number, got {value!r}")
    return repr(float(value))
