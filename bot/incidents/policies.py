"""Escalation policies and routes: what a user writes in the settings, checked, and which
policy an incident follows. The planner that walks a policy is ``escalation``.

A ``Policy`` is an ordered list of steps, each notifying someone (users, a Slack user group,
the on-call of a schedule, or the channel with @here) and then waiting ``wait`` before the
next step. After the last step the policy starts over, ``repeat`` more times, then stops.
An acknowledged incident stops escalating; with ``ack_timeout``, one still unresolved that
long after its acknowledgement reminds the acknowledger, and if nobody answers the
reminder within ``reminder_wait`` it goes back to triggered and escalation continues.
A low-urgency incident notifies only within the policy's ``support_hours``; a step (or
reminder) due outside them waits until they begin. High urgency pages at once, at any hour.

"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails

from bot.durations import Duration, format_duration, parse_duration
from bot.incidents.fields import Frozen, TimeZoneName, UserId, field_errors, problem
from bot.incidents.schedules import Hours, Override, Schedule, on_call

Urgency = Literal["high", "low"]
StepKind = Literal["users", "group", "schedule", "channel", "pagerduty", "webhook"]
PagerDutySeverity = Literal["critical", "error", "warning", "info"]


# --- field types -------------------------------------------------------------------------

def _group_id(value: str) -> str:
    if not (value[:1] == "S" and value[1:].isalnum() and value.isupper()):
        raise ValueError(f"expected a Slack user group id like 'S0614TZR7', got {value!r} "
                         "(Slack shows it in the group's \"Copy group ID\" menu)")
    return value


def _one_or_many(value: Any) -> Any:
    return (value,) if isinstance(value, str) else value


def _env_name(value: str) -> str:
    # The name of an environment variable, never its value: a secret in the settings file
    # would be shown to whoever reads the file.
    if not re.fullmatch(r"[A-Z_][A-Z0-9_]{0,127}", value):
        raise ValueError(f"expected the name of an environment variable like "
                         f"'PERFBOT_PAGERDUTY_KEY' (upper-case letters, digits, _), got "
                         f"{value[:4] + '…' if len(value) > 4 else value!r}")
    return value


GroupId = Annotated[str, AfterValidator(_group_id)]
EnvName = Annotated[str, AfterValidator(_env_name)]
Match = Annotated[tuple[str, ...], BeforeValidator(_one_or_many)]


def _positive(value: timedelta | None, what: str) -> timedelta | None:
    if value is not None and value <= timedelta(0):
        raise ValueError(f"expected {what} longer than 0s, like '30m', got "
                         f"{_signed(value)!r}")
    return value


def _signed(value: timedelta) -> str:
    return f"-{format_duration(-value)}" if value < timedelta(0) else format_duration(value)


# --- policies ----------------------------------------------------------------------------

class SupportHours(Hours):
    """When low-urgency incidents may notify: ``days``, ``start``–``end`` in ``time_zone``."""

    time_zone: TimeZoneName
    """IANA time zone of the hours."""

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


class PagerDutyTarget(Frozen):
    """A PagerDuty service's Events API v2 integration: the environment variable holding
    its routing key, and the severity to page with (None: the alert's own)."""

    routing_key_env: EnvName = "PERFBOT_PAGERDUTY_KEY"
    """The environment variable holding the PagerDuty integration's routing key."""
    severity: PagerDutySeverity | None = None
    """critical, error, warning or info; unset: the alert's own."""


# The Events API v2 endpoint; a setting so a proxy (or the tests' stand-in) can take it.
EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"


class PagerDutySettings(Frozen):
    """Where events go (the real endpoint unless a proxy or a test says otherwise)."""

    events_url: str = Field(default=EVENTS_URL, pattern=r"^https?://")
    """PagerDuty's Events API v2 endpoint (or a proxy)."""
    timeout: float = Field(default=10.0, gt=0, le=60)
    """Seconds a call to PagerDuty may take."""


class WebhookTarget(Frozen):
    """A generic JSON webhook: the environment variables holding its URL and, optionally,
    the secret its body is signed with (HMAC-SHA256)."""

    url_env: EnvName
    """The environment variable holding the webhook's URL."""
    secret_env: EnvName | None = None
    """The environment variable holding the HMAC-SHA256 signing secret; unset: unsigned."""


_TARGETS = ("notify_users", "notify_group", "notify_schedule", "notify_channel",
            "notify_pagerduty", "notify_webhook")


class Step(Frozen):
    """Notify exactly one of users, a user group, a schedule's on-call, the channel, a
    PagerDuty service or a webhook; then wait ``wait`` (default 5m) before the next step."""

    notify_users: tuple[UserId, ...] | None = Field(default=None, min_length=1)
    """Slack user ids (U…) to page by DM."""
    notify_group: GroupId | None = None
    """A Slack user group id (S…) to page."""
    notify_schedule: str | None = Field(default=None, min_length=1)
    """A schedule whose on-call is paged."""
    notify_channel: Literal["here", "channel"] | None = None
    """here or channel: mention the incident's channel."""
    notify_pagerduty: PagerDutyTarget | None = None
    """Trigger a PagerDuty incident."""
    notify_webhook: WebhookTarget | None = None
    """Call a JSON webhook."""
    wait: Duration = parse_duration("5m")
    """How long to wait for an acknowledgement before the next step."""

    @field_validator("wait")
    @classmethod
    def _not_negative(cls, value: timedelta) -> timedelta:
        if value < timedelta(0):
            raise ValueError(f"expected a wait of 0s or more, got {_signed(value)!r}")
        return value

    @model_validator(mode="after")
    def _one_target(self) -> Step:
        given = [name for name in _TARGETS if getattr(self, name) is not None]
        if len(given) != 1:
            got = " and ".join(given) if given else "none"
            raise ValueError(f"expected exactly one of {', '.join(_TARGETS[:-1])} or "
                             f"{_TARGETS[-1]}, got {got}")
        return self

    @property
    def kind(self) -> StepKind:
        if self.notify_users is not None:
            return "users"
        if self.notify_group is not None:
            return "group"
        if self.notify_schedule is not None:
            return "schedule"
        if self.notify_pagerduty is not None:
            return "pagerduty"
        if self.notify_webhook is not None:
            return "webhook"
        return "channel"


class Policy(Frozen):
    """A name, ordered steps, ``repeat`` extra passes, the acknowledgement timeout with its
    reminder, and the support hours of low-urgency incidents (none: notify at any hour)."""

    name: str = Field(min_length=1)
    """The policy's name, named by routes."""
    steps: tuple[Step, ...]
    """Ordered steps, each notifying exactly one target."""
    repeat: int = Field(default=0, ge=0, le=100)
    """Extra passes through the steps while nobody acknowledges."""
    ack_timeout: Duration | None = None
    """Acknowledged but unresolved this long: remind, then page again; unset: never."""
    reminder_wait: Duration = parse_duration("15m")
    """How long after the reminder the incident returns to triggered."""
    support_hours: SupportHours | None = None
    """Low-urgency incidents page only within these; unset: at any hour."""

    @field_validator("steps")
    @classmethod
    def _some_steps(cls, value: tuple[Step, ...]) -> tuple[Step, ...]:
        if not value:
            raise ValueError(f"expected at least one step ({', '.join(_TARGETS[:-1])} or "
                             f"{_TARGETS[-1]}), got none")
        return value

    @field_validator("ack_timeout")
    @classmethod
    def _positive_timeout(cls, value: timedelta | None) -> timedelta | None:
        return _positive(value, "a timeout")

    @field_validator("reminder_wait")
    @classmethod
    def _positive_wait(cls, value: timedelta) -> timedelta:
        return _positive(value, "a wait") or value


# --- routes ------------------------------------------------------------------------------

class Route(Frozen):
    """Incidents matching every condition given (each one value or a list) go to ``policy``."""

    service: Match | None = None
    """Service name(s) it matches."""
    team: Match | None = None
    """Team name(s) it matches."""
    severity: Match | None = None
    """Severity(ies) it matches."""
    policy: str = Field(min_length=1)
    """The policy of the incidents it matches."""

    def matches(self, service: str | None, team: str | None, severity: str | None) -> bool:
        return all(
            wanted is None or value in wanted
            for wanted, value in ((self.service, service), (self.team, team),
                                  (self.severity, severity))
        )


class Routing(Frozen):
    """Routes tried in order, the first match wins; ``default`` for everything else."""

    routes: tuple[Route, ...] = ()
    """Routes tried in order; the first match wins."""
    default: str = Field(min_length=1)
    """The policy of incidents no route matches."""


def route(routing: Routing, service: str | None, team: str | None, severity: str | None) -> str:
    """The name of the policy for an incident of ``service``, ``team`` and ``severity``."""
    for candidate in routing.routes:
        if candidate.matches(service, team, severity):
            return candidate.policy
    return routing.default


class OnCallSettings(Frozen):
    """Schedules, policies and routing together, checked against each other.

    ```yaml
    schedules: [{name: primary, layers: [...]}]
    policies: [{name: sre, steps: [{notify_schedule: primary, wait: 10m}, ...]}]
    routing: {default: sre, routes: [{service: checkout, policy: payments}]}
    ```
    """

    schedules: tuple[Schedule, ...] = ()
    """On-call schedules."""
    policies: tuple[Policy, ...] = ()
    """Escalation policies."""
    routing: Routing | None = None
    """Which policy an incident follows."""

    @model_validator(mode="wrap")
    @classmethod
    def _references(cls, data: Any, handler: Any) -> Any:
        settings: OnCallSettings = handler(data)
        problems = settings._problems()
        if problems:
            raise field_errors(cls, problems)
        return settings

    def _problems(self) -> list[InitErrorDetails]:
        problems: list[InitErrorDetails] = []
        schedules = _names("schedule", [s.name for s in self.schedules], "schedules", problems)
        policies = _names("policy", [p.name for p in self.policies], "policies", problems)
        for p, policy in enumerate(self.policies):
            for s, step in enumerate(policy.steps):
                if step.notify_schedule is not None and step.notify_schedule not in schedules:
                    problems.append(problem(
                        ("policies", p, "steps", s, "notify_schedule"), step.notify_schedule,
                        _expected("the name of a schedule", schedules, step.notify_schedule),
                    ))
        if self.routing is None:
            if self.policies:
                problems.append(problem(
                    ("routing",), None, "expected routing with a default policy when "
                    "policies are set, got none"))
            return problems
        for r, rule in enumerate(self.routing.routes):
            if rule.policy not in policies:
                problems.append(problem(("routing", "routes", r, "policy"), rule.policy,
                                         _expected("the name of a policy", policies,
                                                   rule.policy)))
        if self.routing.default not in policies:
            problems.append(problem(("routing", "default"), self.routing.default,
                                     _expected("the name of a policy", policies,
                                               self.routing.default)))
        return problems

    def schedule_map(self) -> dict[str, Schedule]:
        return {schedule.name: schedule for schedule in self.schedules}

    def policy(self, name: str) -> Policy:
        """The policy named ``name`` (KeyError when there is none)."""
        for policy in self.policies:
            if policy.name == name:
                return policy
        raise KeyError(name)


def _names(kind: str, names: list[str], section: str,
           problems: list[InitErrorDetails]) -> set[str]:
    first: dict[str, int] = {}
    for index, name in enumerate(names):
        if name in first:
            problems.append(problem(
                (section, index, "name"), name,
                f"expected a name no other {kind} has, got {name!r} again "
                f"(first at {section}[{first[name]}])"))
        first.setdefault(name, index)
    return set(first)


def _expected(what: str, known: set[str], got: str) -> str:
    if not known:
        return f"expected {what}, got {got!r} (none are configured)"
    return f"expected {what} ({', '.join(repr(n) for n in sorted(known))}), got {got!r}"


def policy_on_call(
    policy: Policy, schedules: Mapping[str, Schedule], overrides: Sequence[Override],
    at: datetime,
) -> list[str]:
    """Who is on call at ``at`` for the schedules ``policy`` notifies, in step order, once
    each: what ``bot.authz``'s on-call hook answers for an alert routed to ``policy``."""
    found: dict[str, None] = {}
    for step in policy.steps:
        schedule = schedules.get(step.notify_schedule or "")
        if schedule is not None:
            found.update(dict.fromkeys(on_call(schedule, overrides, at)))
    return list(found)
