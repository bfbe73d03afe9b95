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
    SHOW_CHART = "show_chart"


@dataclass(frozen=True)
class ActRule:
    label: str  # on its button
    verb: str  # "Only … may <verb> this alert"
    done: str  # the status line: "<done> by @ana at 14:02"
    open_to_all: bool  # changes nothing for anyone else, so needs no permission
    removes: frozenset[Act]  # the buttons it makes pointless
    style: str | None = None  # Block Kit button style


_ALL_OPEN_ACTS = frozenset({Act.ACKNOWLEDGE, Act.SNOOZE, Act.RESOLVE, Act.ESCALATE})

RULES: dict[Act, ActRule] = {
    Act.ACKNOWLEDGE: ActRule("Acknowledge", "acknowledge", "Acknowledged", False,
                             frozenset({Act.ACKNOWLEDGE})),
    # Snoozing is acknowledging for a while.
    Act.SNOOZE: ActRule("Snooze", "snooze", "Snoozed", False, frozenset({Act.ACKNOWLEDGE})),
    # A resolved alert keeps only "Show chart".
    Act.RESOLVE: ActRule("Resolve", "resolve", "Resolved", False, _ALL_OPEN_ACTS, "primary"),
    Act.ESCALATE: ActRule("Escalate now", "escalate", "Escalated", False,
                          frozenset({Act.ESCALATE}), "danger"),
    Act.SILENCE: ActRule("Silence", "silence", "Silenced", False, _ALL_OPEN_ACTS),
    Act.SHOW_CHART: ActRule("Show chart", "show the chart of", "Chart shown", True,
                            frozenset()),
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
