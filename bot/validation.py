"""How a validation error's location and message read for people, in settings and playbooks
alike."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from typing import Any


def field_path(loc: Sequence[int | str]) -> str:
    """``("oncall", "policies", 1, "steps")`` → ``oncall.policies[1].steps``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top)"


def expected_got(error: Any) -> str:
    """A pydantic error in the project's words: ``expected one of 'latency', ... or 'memory',
    got 'latncy' (did you mean 'latency'?)`` rather than ``Input should be ...``."""
    message = str(error["msg"]).removeprefix("Value error, ")
    got = error.get("input")
    if error["type"] in ("enum", "literal_error"):
        expected = str((error.get("ctx") or {}).get("expected", ""))
        choices = re.findall(r"'([^']*)'", expected)
        close = difflib.get_close_matches(got, choices, n=1, cutoff=0.6) if isinstance(
            got, str) else []
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"expected one of {expected}, got {got!r}{hint}"
    if error["type"] == "value_error":  # the project's own validators: worded already
        return message
    shown = repr(got) if len(repr(got)) <= 80 else repr(got)[:77] + "..."
    if message.startswith("Input should be "):
        return f"expected {message.removeprefix('Input should be ')}, got {shown}"
    return f"{message[:1].lower()}{message[1:]}, got {shown}"
