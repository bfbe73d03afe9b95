"""Who may do what to an alert. Pure: group membership and the on-call come in as callables.

Acknowledge, snooze, resolve and escalate change an incident for everyone, so they need
permission: an admin, a listed user, a member of a listed Slack user group, or the on-call
of the alert's policy. Showing the chart changes nothing and is open to all.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field

from bot.alerts.acts import OPEN_TO_ALL, RULES, Act

OnCall = Callable[[], Iterable[str]]
GroupMembers = Callable[[str], Collection[str]]


def nobody_on_call() -> list[str]:
    """The default on-call hook: no rotation is configured yet."""
    return []


@dataclass(frozen=True)
class Rules:
    admins: frozenset[str] = frozenset()
    users: frozenset[str] = frozenset()
    groups: tuple[str, ...] = ()
    oncall: OnCall = field(default=nobody_on_call)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str  # why, for the audit record: "admin", "member of S1", "not allowed"…


def decide(rules: Rules, user: str, act: Act, members: GroupMembers) -> Decision:
    """May ``user`` do ``act``? Cheapest checks first: ``members`` may ask Slack."""
    if act in OPEN_TO_ALL:
        return Decision(True, "open to everyone")
    if user in rules.admins:
        return Decision(True, "admin")
    if user in rules.users:
        return Decision(True, "allowed user")
    if user in set(rules.oncall()):
        return Decision(True, "on call")
    for group in rules.groups:
        if user in members(group):
            return Decision(True, f"member of {group}")
    return Decision(False, "not allowed")


def who_may(rules: Rules, act: Act) -> str:
    """The refusal's sentence: who may do ``act``, in Slack mrkdwn (mentions render as names)."""
    verb = RULES[act].verb
    who = []
    if rules.admins or rules.users:
        who.append(", ".join(f"<@{u}>" for u in sorted(rules.admins | rules.users)))
    if rules.groups:
        who.append("members of " + ", ".join(f"<!subteam^{g}>" for g in rules.groups))
    who.append("the on-call of the alert's policy")
    if len(who) == 1:
        return (f"Only the on-call of the alert's policy may {verb} {RULES[act].target}; to allow "
                "others, list them under `slack:` (`admins`, `allowed_users` or "
                "`allowed_groups`) in perfbot.yaml.")
    return f"Only {', '.join(who[:-1])} or {who[-1]} may {verb} {RULES[act].target}."
