"""Patterns (globs or ``re:`` regexes) and conditions on evidence, as ``match`` writes them."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fnmatch import translate
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator

from bot.playbooks.evidence import (
    EVIDENCE,
    EvidenceKind,
    EvidenceValue,
    format_evidence,
    suggest,
)

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

    def check(self, evidence: Mapping[str, EvidenceValue]) -> tuple[bool | None, str]:
        """Whether it holds (None: unknown, the evidence is missing), and a sentence saying
        why (or why not)."""
        if self.name not in evidence:
            return None, f"`{self.text}`: no {self.name} evidence for this alert"
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
        raise ValueError(f"unknown evidence {name!r} in {value!r}{suggest(name, EVIDENCE)}; "
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


ConditionField = Annotated[Condition, BeforeValidator(parse_condition)]
