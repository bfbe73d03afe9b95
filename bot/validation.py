"""How a validation error's location reads for people, in settings and playbooks alike."""

from __future__ import annotations

from collections.abc import Sequence


def field_path(loc: Sequence[int | str]) -> str:
    """``("oncall", "policies", 1, "steps")`` → ``oncall.policies[1].steps``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top)"
