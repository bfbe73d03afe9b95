"""The escalation planner: pure functions of time.

``plan`` is the whole engine: the incident's stored ``Position`` and ``now`` in, the new
position and the notifications due out. The caller stores the position, sends each
``Notify`` at most once by its ``key``, and calls ``plan`` again at ``position.due``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, Field

from bot.incidents.fields import Frozen
from bot.incidents.policies import PagerDutyTarget, Policy, Step, Urgency, WebhookTarget
from bot.incidents.schedules import Override, Schedule, next_opening, on_call


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
    that means it is being caught up. ``pagerduty`` and ``webhook``: the step's target
    outside Slack (environment variable names, never their values).
    """

    key: str
    incident: str
    kind: Literal["users", "group", "schedule", "channel", "pagerduty", "webhook", "reminder"]
    step: int
    pass_number: int
    due: AwareDatetime
    users: tuple[str, ...] = ()
    group: str | None = None
    schedule: str | None = None
    mention: Literal["here", "channel"] | None = None
    pagerduty: PagerDutyTarget | None = None
    webhook: WebhookTarget | None = None


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
        pagerduty=step.notify_pagerduty, webhook=step.notify_webhook,
    )


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"expected a timezone-aware datetime, got {at!r}")
    return at.astimezone(UTC)
