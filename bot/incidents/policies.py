"""Escalation policies, routes, and the escalation planner: pure functions of time.

A ``Policy`` is an ordered list of steps, each notifying someone (users, a Slack user group,
the on-call of a schedule, or the channel with @here) and then waiting ``wait`` before the
next step. After the last step the policy starts over, ``repeat`` more times, then stops.
An acknowledged incident stops escalating; with ``ack_timeout``, one still unresolved that
long after its acknowledgement reminds the acknowledger, and if nobody answers the
reminder within ``reminder_wait`` it goes back to triggered and escalation continues.
A low-urgency incident notifies only within the policy's ``support_hours``; a step (or
reminder) due outside them waits until they begin. High urgency pages at once, at any hour.

``plan`` is the whole engine: the incident's stored ``Position`` and ``now`` in, the new
position and the notifications due out. The caller stores the position, sends each
``Notify`` at most once by its ``key``, and calls ``plan`` again at ``position.due``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    Field,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails

from bot.durations import Duration, format_duration, parse_duration
from bot.incidents.schedules import (
    Frozen,
    Hours,
    Override,
    Schedule,
    TimeZoneName,
    UserId,
    field_errors,
    next_opening,
    on_call,
    problem,
)

Urgency = Literal["high", "low"]
StepKind = Literal["users", "group", "schedule", "channel"]


# --- field types -------------------------------------------------------------------------

def _group_id(value: str) -> str:
    if not (value[:1] == "S" and value[1:].isalnum() and value.isupper()):
        raise ValueError(f"expected a Slack user group id like 'S0614TZR7', got {value!r} "
                         "(Slack shows it in the group's \"Copy group ID\" menu)")
    return value


def _one_or_many(value: Any) -> Any:
    return (value,) if isinstance(value, str) else value


GroupId = Annotated[str, AfterValidator(_group_id)]
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

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


class Step(Frozen):
    """Notify exactly one of users, a user group, a schedule's on-call or the channel; then
    wait ``wait`` (default 5m) before the next step."""

    notify_users: tuple[UserId, ...] | None = Field(default=None, min_length=1)
    notify_group: GroupId | None = None
    notify_schedule: str | None = Field(default=None, min_length=1)
    notify_channel: Literal["here", "channel"] | None = None
    wait: Duration = parse_duration("5m")

    @field_validator("wait")
    @classmethod
    def _not_negative(cls, value: timedelta) -> timedelta:
        if value < timedelta(0):
            raise ValueError(f"expected a wait of 0s or more, got {_signed(value)!r}")
        return value

    @model_validator(mode="after")
    def _one_target(self) -> Step:
        given = [name for name in ("notify_users", "notify_group", "notify_schedule",
                                   "notify_channel") if getattr(self, name) is not None]
        if len(given) != 1:
            got = " and ".join(given) if given else "none"
            raise ValueError("expected exactly one of notify_users, notify_group, "
                             f"notify_schedule or notify_channel, got {got}")
        return self

    @property
    def kind(self) -> StepKind:
        if self.notify_users is not None:
            return "users"
        if self.notify_group is not None:
            return "group"
        if self.notify_schedule is not None:
            return "schedule"
        return "channel"


class Policy(Frozen):
    """A name, ordered steps, ``repeat`` extra passes, the acknowledgement timeout with its
    reminder, and the support hours of low-urgency incidents (none: notify at any hour)."""

    name: str = Field(min_length=1)
    steps: tuple[Step, ...]
    repeat: int = Field(default=0, ge=0, le=100)
    ack_timeout: Duration | None = None
    reminder_wait: Duration = parse_duration("15m")
    support_hours: SupportHours | None = None

    @field_validator("steps")
    @classmethod
    def _some_steps(cls, value: tuple[Step, ...]) -> tuple[Step, ...]:
        if not value:
            raise ValueError("expected at least one step (notify_users, notify_group, "
                             "notify_schedule or notify_channel), got none")
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
    team: Match | None = None
    severity: Match | None = None
    policy: str = Field(min_length=1)

    def matches(self, service: str | None, team: str | None, severity: str | None) -> bool:
        return all(
            wanted is None or value in wanted
            for wanted, value in ((self.service, service), (self.team, team),
                                  (self.severity, severity))
        )


class Routing(Frozen):
    """Routes tried in order, the first match wins; ``default`` for everything else."""

    routes: tuple[Route, ...] = ()
    default: str = Field(min_length=1)


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
    policies: tuple[Policy, ...] = ()
    routing: Routing | None = None

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


# --- escalation --------------------------------------------------------------------------

class Position(Frozen):
    """Where an incident's escalation stands; stored with the incident.

    ``step`` and ``pass_number`` name the next step to run (pass 0 is the first, the last is
    ``policy.repeat + extra_passes``); ``due`` is when ``plan`` has something to do next (a
    step, a reminder, or the end of the reminder's wait), None when nothing will happen
    until someone acts.
    """

    incident: str = Field(min_length=1)
    step: int = Field(default=0, ge=0)
    pass_number: int = Field(default=0, ge=0)
    extra_passes: int = Field(default=0, ge=0)
    due: AwareDatetime | None = None
    acknowledged_by: str | None = None
    acknowledged_at: AwareDatetime | None = None
    reminder_sent_at: AwareDatetime | None = None

    @property
    def acknowledged(self) -> bool:
        return self.acknowledged_at is not None


class Notify(Frozen):
    """One notification to send, at most once per ``key``.

    ``users`` are resolved Slack user ids (the listed users, the schedule's on-call at the
    moment of planning, or the acknowledger for a reminder); empty for a schedule nobody is
    on call for. ``group`` is a Slack user group id to mention (Slack expands it) and
    ``mention`` the channel-wide one (``@here``). ``due`` is when it was due: later than
    that means it is being caught up.
    """

    key: str
    incident: str
    kind: Literal["users", "group", "schedule", "channel", "reminder"]
    step: int
    pass_number: int
    due: AwareDatetime
    users: tuple[str, ...] = ()
    group: str | None = None
    schedule: str | None = None
    mention: Literal["here", "channel"] | None = None


def step_key(incident: str, pass_number: int, step: int) -> str:
    """``incident:pass:step``: the same step of the same pass is sent once."""
    return f"{incident}:{pass_number}:{step}"


def reminder_key(position: Position) -> str:
    """``incident:pass:step:reminder:<acknowledged at>``: one reminder per acknowledgement."""
    assert position.acknowledged_at is not None
    stamp = position.acknowledged_at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{step_key(position.incident, position.pass_number, position.step)}:reminder:{stamp}"


def begin(incident: str, at: datetime) -> Position:
    """A new incident's position: the first step of the first pass, due at ``at``."""
    return Position(incident=incident, due=_utc(at))


def acknowledge(position: Position, policy: Policy, user: str, at: datetime) -> Position:
    """``user`` acknowledged at ``at``: escalation stops; the reminder is due after the
    policy's ``ack_timeout`` (never without one). Acknowledging again restarts that timer."""
    at = _utc(at)
    due = at + policy.ack_timeout if policy.ack_timeout is not None else None
    return position.model_copy(update={"acknowledged_by": user, "acknowledged_at": at,
                                       "reminder_sent_at": None, "due": due})


def escalate_now(position: Position, policy: Policy, at: datetime) -> Position:
    """Back to triggered at ``at``: any acknowledgement is dropped and the next step is due
    at once; a policy that had run out gets one more pass."""
    return _reopen(position, policy, _utc(at))


def plan(
    position: Position,
    policy: Policy,
    schedules: Mapping[str, Schedule],
    overrides: Sequence[Override],
    urgency: Urgency,
    now: datetime,
) -> tuple[Position, list[Notify]]:
    """What is due by ``now``: the new position and the notifications to send, in order.

    Overdue steps (after downtime) all come back, each with its own key, as if each had
    run when it was due (``Notify.due``); the next step's wait counts from there. A
    schedule's on-call is looked up at ``now``, when the message goes out. A schedule the
    snapshot names but ``schedules`` lacks gives a notification with no users.
    """
    now = _utc(now)
    notes: list[Notify] = []
    if position.acknowledged_at is not None:
        position, reminder, reopened = _acknowledged(position, policy, urgency, now)
        notes.extend(reminder)
        if not reopened:
            return position, notes
    while position.due is not None and position.due <= now:
        if _exhausted(position, policy):
            return position.model_copy(update={"due": None}), notes
        due = _in_hours(policy, urgency, position.due)
        if due > now:
            return position.model_copy(update={"due": due}), notes
        step = policy.steps[position.step]
        notes.append(_notify(position, step, due, schedules, overrides, now))
        position = _advance(position, policy, due + step.wait)
    return position, notes


def _acknowledged(
    position: Position, policy: Policy, urgency: Urgency, now: datetime
) -> tuple[Position, list[Notify], bool]:
    """The acknowledgement's timer: wait, remind, or give up on it (True: reopened)."""
    assert position.acknowledged_at is not None
    if policy.ack_timeout is None:
        return position.model_copy(update={"due": None}), [], False
    if position.reminder_sent_at is None:
        due = _in_hours(policy, urgency, position.acknowledged_at + policy.ack_timeout)
        if due > now:
            return position.model_copy(update={"due": due}), [], False
        reminder = Notify(
            key=reminder_key(position), incident=position.incident, kind="reminder",
            step=position.step, pass_number=position.pass_number, due=due,
            users=(position.acknowledged_by,) if position.acknowledged_by else (),
        )
        # The reminder's wait counts from when it really goes out: a person gets the whole
        # wait to answer even when the reminder is late.
        return position.model_copy(update={"reminder_sent_at": now,
                                           "due": now + policy.reminder_wait}), [reminder], False
    expires = position.reminder_sent_at + policy.reminder_wait
    if expires > now:
        return position.model_copy(update={"due": expires}), [], False
    return _reopen(position, policy, expires), [], True


def _reopen(position: Position, policy: Policy, at: datetime) -> Position:
    update: dict[str, Any] = {"acknowledged_by": None, "acknowledged_at": None,
                              "reminder_sent_at": None, "due": at}
    if _exhausted(position, policy):
        update["extra_passes"] = position.pass_number - policy.repeat
    return position.model_copy(update=update)


def _exhausted(position: Position, policy: Policy) -> bool:
    return position.pass_number > policy.repeat + position.extra_passes


def _advance(position: Position, policy: Policy, due: datetime) -> Position:
    step, pass_number = position.step + 1, position.pass_number
    if step == len(policy.steps):
        step, pass_number = 0, pass_number + 1
    moved = position.model_copy(update={"step": step, "pass_number": pass_number, "due": due})
    return moved.model_copy(update={"due": None}) if _exhausted(moved, policy) else moved


def _in_hours(policy: Policy, urgency: Urgency, at: datetime) -> datetime:
    hours = policy.support_hours
    if urgency == "high" or hours is None:
        return at
    return next_opening(hours, hours.zone, at)


def _notify(
    position: Position,
    step: Step,
    due: datetime,
    schedules: Mapping[str, Schedule],
    overrides: Sequence[Override],
    now: datetime,
) -> Notify:
    users: tuple[str, ...] = step.notify_users or ()
    if step.notify_schedule is not None:
        schedule = schedules.get(step.notify_schedule)
        users = tuple(on_call(schedule, overrides, now)) if schedule else ()
    return Notify(
        key=step_key(position.incident, position.pass_number, position.step),
        incident=position.incident, kind=step.kind, step=position.step,
        pass_number=position.pass_number, due=due, users=users, group=step.notify_group,
        schedule=step.notify_schedule, mention=step.notify_channel,
    )


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"expected a timezone-aware datetime, got {at!r}")
    return at.astimezone(UTC)
