"""The "Useful" / "Noise" buttons on detection alerts, in a block of their own (apart from
the incident's acts: another answer, stored elsewhere), and what replaces them once
someone answered."""

from __future__ import annotations

from typing import Any

from bot.alerts.explained import DETECTION
from bot.incidents.lifecycle import Incident

FEEDBACK_BLOCK = "alert_feedback"
_PREFIX = "feedback."
LABELS = {"useful": "Useful", "noise": "Noise"}


def feedback_action_id(verdict: str, incident: str) -> str:
    """``feedback.noise:INC-3``: Bolt routes on the prefix, the listener reads the rest."""
    return f"{_PREFIX}{verdict}:{incident}"


def parse_feedback_action_id(action_id: str) -> tuple[str, str]:
    """``(verdict, incident name)``; ValueError for anything else."""
    verdict, sep, incident = action_id.removeprefix(_PREFIX).partition(":")
    if not action_id.startswith(_PREFIX) or not sep or verdict not in LABELS or not incident:
        raise ValueError(f"not a feedback action: {action_id!r}")
    return verdict, incident


def feedback_blocks(incident: Incident) -> list[dict[str, Any]]:
    """The buttons, on alerts the detector raised (Alertmanager's are another's rules)."""
    if incident.alert.source != DETECTION:
        return []
    return [{"type": "actions", "block_id": FEEDBACK_BLOCK, "elements": [
        {"type": "button", "action_id": feedback_action_id(verdict, incident.name),
         "value": incident.name, "text": {"type": "plain_text", "text": label}}
        for verdict, label in LABELS.items()]}]


def answered(blocks: list[dict[str, Any]], verdict: str, user: str) -> list[dict[str, Any]]:
    """``blocks`` with the buttons replaced by "marked noise by @user"."""
    said = {"type": "context", "block_id": FEEDBACK_BLOCK,
            "elements": [{"type": "mrkdwn", "text": f"Marked {verdict} by <@{user}>"}]}
    return [said if b.get("block_id") == FEEDBACK_BLOCK else b for b in blocks]
