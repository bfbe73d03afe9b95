"""The acts people take on an alert, and what each one means, defined once: the buttons, the
status lines, the authorization and the commands all read them from here."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Act(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    SNOOZE = "snooze"
    RESOLVE = "resolve"
    ESCALATE = "escalate"
    SILENCE = "silence"
    UNSILENCE = "unsilence"
    OVERRIDE = "override"  # who is on call, for a while
    SHOW_CHART = "show_chart"


@dataclass(frozen=True)
class ActRule:
    label: str  # on its button
    verb: str  # "Only … may <verb> <target>"
    done: str  # the timeline: "<done> by @ana at 14:02"
    open_to_all: bool  # changes nothing for anyone else, so needs no permission
    style: str | None = None  # Block Kit button style
    target: str = "this alert"  # what the refusal says it is about


RULES: dict[Act, ActRule] = {
    Act.ACKNOWLEDGE: ActRule("Acknowledge", "acknowledge", "Acknowledged", False),
    # Snoozing is acknowledging for a while.
    Act.SNOOZE: ActRule("Snooze", "snooze", "Snoozed", False),
    Act.RESOLVE: ActRule("Resolve", "resolve", "Resolved", False, "primary"),
    Act.ESCALATE: ActRule("Escalate now", "escalate", "Escalated", False, "danger"),
    Act.SILENCE: ActRule("Silence", "silence", "Silenced", False, target="alerts"),
    Act.UNSILENCE: ActRule("Unsilence", "unsilence", "Unsilenced", False, target="alerts"),
    Act.OVERRIDE: ActRule("Override", "change", "Overridden", False,
                          target="who is on call"),
    Act.SHOW_CHART: ActRule("Show chart", "show the chart of", "Chart shown", True),
}

# The buttons of an open alert, in order; "Show chart" follows when there is a chart.
BUTTONS = (Act.ACKNOWLEDGE, Act.SNOOZE, Act.RESOLVE, Act.ESCALATE)
# ``/perf <word> ID``: the acts a command can take.
COMMAND_WORDS = {"ack": Act.ACKNOWLEDGE, "resolve": Act.RESOLVE, "snooze": Act.SNOOZE,
                 "escalate": Act.ESCALATE}
# Snooze durations offered, and the default of ``/perf snooze ID``.
SNOOZE_CHOICES = {"15m": "15 minutes", "1h": "1 hour", "4h": "4 hours", "1d": "1 day"}
DEFAULT_SNOOZE = "1h"

OPEN_TO_ALL = frozenset(act for act, rule in RULES.items() if rule.open_to_all)
