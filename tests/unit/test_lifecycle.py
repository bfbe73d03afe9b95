"""The incident lifecycle's pure transitions, with plain datetimes: what each event makes of
an incident, the timeline lines it adds and the effects (posts, edits, replies, pages) it
asks for, with keys that make a repeated decision harmless."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.alerts.acts import Act
from bot.analytics.findings.model import Severity
from bot.incidents.escalation import Position, begin
from bot.incidents.lifecycle import (
    Change,
    Effect,
    Incident,
    Refused,
    State,
    act,
    open_incident,
    recover,
    reopen,
    repeat,
    sweep,
)
from bot.incidents.policies import Policy
from tests.incident_parts import MINUTE, PATIENT, SRE, T0, alert, message


def opened(policy: Policy | None = SRE, *, number: int = 7, chart: bool = False,
           silenced: str = "", now: datetime = T0) -> Incident:
    raised = alert(chart=chart)
    return open_incident(number, raised, message(raised), channel="#checkout", policy=policy,
                         urgency="high", silenced=silenced, now=now).incident


def applied(change: Change | Refused) -> Change:
    assert isinstance(change, Change), change
    return change


def swept(incident: Incident, now: datetime, policy: Policy | None = SRE) -> Change:
    return sweep(incident, policy, {}, (), now)


def kinds(change: Change) -> list[str]:
    return [entry.kind for entry in change.timeline]


def pages(change: Change) -> list[tuple[str, tuple[str, ...], str | None]]:
    """(key, users, channel mention) of each page, in order."""
    return [(e.key, e.notify.users, e.notify.mention) for e in change.effects
            if e.kind == "page" and e.notify is not None]


# --- opening -----------------------------------------------------------------------------


def test_a_new_incident_is_posted_with_its_chart_and_escalates_from_now() -> None:
    raised = alert(chart=True)
    change = open_incident(7, raised, message(raised), channel="#checkout", policy=SRE,
                           urgency="high", silenced="", now=T0)
    incident = change.incident
    assert (incident.id, incident.name, incident.fingerprint) == (7, "INC-7", raised.fingerprint)
    assert (incident.state, incident.version, incident.level) == (State.TRIGGERED, 0, 0)
    assert (incident.channel, incident.policy, incident.silenced) == ("#checkout", "sre", "")
    assert incident.escalation == begin("INC-7", T0) and incident.due == T0
    assert [(e.key, e.kind) for e in change.effects] == [("INC-7:post", "post"),
                                                         ("INC-7:chart", "chart")]
    assert [(e.kind, e.text) for e in change.timeline] == [
        ("opened", "warning: latency of GET /api/orders (checkout) up")]


def test_an_alert_without_a_chart_is_posted_alone() -> None:
    raised = alert()
    change = open_incident(8, raised, message(raised), channel="#c", policy=None,
                           urgency="high", silenced="", now=T0)
    assert [e.key for e in change.effects] == ["INC-8:post"]
    assert change.incident.escalation is None and change.incident.due is None


def test_a_silenced_incident_is_stored_not_posted_and_the_timeline_says_why() -> None:
    raised = alert(chart=True)
    change = open_incident(9, raised, message(raised), channel="#checkout", policy=SRE,
                           urgency="high", silenced="silence #3 (deploy in progress)", now=T0)
    assert change.effects == []
    assert change.incident.silenced == "silence #3 (deploy in progress)"
    assert change.incident.escalation is None and change.incident.due is None  # pages nobody
    assert [(e.kind, e.text) for e in change.timeline][1:] == [
        ("silenced", "not posted: silence #3 (deploy in progress)")]


def test_times_are_kept_in_utc_and_a_time_without_a_zone_is_refused() -> None:
    berlin = T0.astimezone(ZoneInfo("Europe/Berlin"))
    incident = opened(now=berlin)
    assert incident.opened_at == T0 and incident.opened_at.tzinfo is UTC
    assert incident.escalation is not None and incident.escalation.due == T0
    with pytest.raises(ValueError, match="time zone"):
        opened(now=T0.replace(tzinfo=None))


# --- repeats -----------------------------------------------------------------------------


def test_a_repeat_refreshes_the_alert_and_changes_nothing_people_see() -> None:
    incident = opened()
    again = alert(at=T0 + 5 * MINUTE)
    change = repeat(incident, again, T0 + 5 * MINUTE)
    assert change.effects == [] and change.timeline == []
    assert change.incident.alert == again and change.incident.alert != incident.alert
    assert (change.incident.version, change.incident.updated_at) == (1, T0 + 5 * MINUTE)
    assert change.incident.state is State.TRIGGERED
    assert change.incident.escalation == incident.escalation  # the escalation goes on as it was


def test_a_milder_repeat_edits_nothing() -> None:
    critical = repeat(opened(), alert(severity=Severity.CRITICAL), T0 + MINUTE).incident
    change = repeat(critical, alert(severity=Severity.INFO), T0 + 2 * MINUTE)
    assert change.effects == [] and change.timeline == []


def test_a_worse_repeat_edits_the_message_once() -> None:
    incident = opened()
    change = repeat(incident, alert(severity=Severity.CRITICAL), T0 + 5 * MINUTE)
    assert [(e.key, e.kind) for e in change.effects] == [("INC-7:update:1", "update")]
    assert [(e.kind, e.text) for e in change.timeline] == [("severity", "warning → critical")]
    assert change.incident.alert.severity is Severity.CRITICAL


# --- recovery ----------------------------------------------------------------------------


def test_a_recovery_resolves_it_says_how_long_it_lasted_and_pings_nobody() -> None:
    incident = applied(act(opened(), Act.ACKNOWLEDGE, "UANNA", T0 + MINUTE, policy=SRE)).incident
    change = recover(incident, T0 + timedelta(hours=1, minutes=30),
                     "p95 back to 230 ms, usual 220 ms")
    resolved = change.incident
    assert (resolved.state, resolved.resolved_by) == (State.RESOLVED, None)
    assert resolved.resolved_at == T0 + timedelta(hours=1, minutes=30)
    assert resolved.resolution == ("recovered on its own after 1h30m: p95 back to 230 ms, "
                                   "usual 220 ms")
    assert resolved.due is None and not resolved.is_open  # the sweep leaves it alone
    assert [(e.key, e.kind, e.mention) for e in change.effects] == [
        ("INC-7:update:2", "update", False), ("INC-7:resolved:2", "reply", False)]
    assert change.effects[1].text == f":white_check_mark: Resolved: {resolved.resolution}"
    assert kinds(change) == ["resolved"]


def test_a_recovery_without_words_still_says_how_long() -> None:
    change = recover(opened(), T0 + timedelta(minutes=42), "")
    assert change.incident.resolution == "recovered on its own after 42m"


# --- reopening ---------------------------------------------------------------------------


def test_a_recurrence_reopens_the_same_incident_and_escalation_starts_over() -> None:
    incident = opened()
    for minute in range(0, 16, 5):  # every step paged, the policy has run out
        incident = swept(incident, T0 + minute * MINUTE).incident
    assert incident.level == 3 and incident.escalation is not None
    assert incident.escalation.due is None
    incident = applied(act(incident, Act.ACKNOWLEDGE, "UANNA", T0 + 16 * MINUTE,
                           policy=SRE)).incident
    incident = recover(incident, T0 + 20 * MINUTE, "").incident

    later = T0 + 40 * MINUTE
    change = reopen(incident, alert(at=later), SRE, later)
    back = change.incident
    assert (back.id, back.state, back.reopened, back.level) == (7, State.TRIGGERED, 1, 0)
    assert (back.acknowledged_by, back.resolved_at, back.resolution) == (None, None, "")
    assert back.escalation == begin("INC-7", later) and back.due == later
    assert [(e.kind, e.text) for e in change.timeline] == [
        ("reopened", "reopened: the problem came back 20m after it was resolved")]
    assert [(e.key, e.kind, e.mention) for e in change.effects] == [
        (f"INC-7:update:{back.version}", "update", False),
        (f"INC-7:reopened:{back.version}", "reply", True)]
    assert reopen(recover(back, later + MINUTE, "").incident, alert(), SRE,
                  later + 2 * MINUTE).incident.reopened == 2


def test_pages_after_a_reopen_have_keys_of_their_own() -> None:
    """The outbox keeps one effect per key: a page of the second life keyed like one of
    the first would never be sent."""
    first = swept(opened(), T0)
    resolved = recover(first.incident, T0 + 2 * MINUTE, "").incident
    again = reopen(resolved, alert(), SRE, T0 + 10 * MINUTE).incident
    second = swept(again, T0 + 10 * MINUTE)
    assert [users for _, users, _ in pages(second)] == [("UANNA",)]
    first_keys = {e.key for e in first.effects}
    assert first_keys.isdisjoint(e.key for e in second.effects)
    page = second.effects[0]
    assert page.notify is not None and page.notify.key == page.key  # one key, said once
    third = reopen(recover(second.incident, T0 + 11 * MINUTE, "").incident, alert(), SRE,
                   T0 + 12 * MINUTE).incident
    assert {e.key for e in swept(third, T0 + 12 * MINUTE).effects}.isdisjoint(
        first_keys | {e.key for e in second.effects})


def test_a_reopen_under_a_silence_pages_nobody_and_posts_nothing() -> None:
    """Never posted: it stays so (stored and listed), and nobody is paged."""
    incident = recover(opened(silenced="silence #3 (deploy)"), T0 + 2 * MINUTE, "").incident
    change = reopen(incident, alert(), SRE, T0 + 10 * MINUTE, silenced="silence #4 (deploy)")
    assert change.effects == []
    assert change.incident.escalation is None and change.incident.due is None
    assert change.incident.silenced == "silence #4 (deploy)"
    assert [(e.kind, e.text) for e in change.timeline][1:] == [
        ("silenced", "not posted: silence #4 (deploy)")]


def test_a_posted_incident_reopened_under_a_silence_is_shown_without_paging() -> None:
    incident = recover(swept(opened(), T0).incident, T0 + 2 * MINUTE, "").incident
    change = reopen(incident, alert(), SRE, T0 + 10 * MINUTE, silenced="silence #4 (deploy)")
    assert [(e.kind, e.mention) for e in change.effects] == [("update", False)]
    assert change.incident.escalation is None and change.incident.due is None
    assert change.incident.silenced == ""  # it has a message
    assert kinds(change) == ["reopened", "silenced"]


def test_a_never_posted_incident_reopened_after_its_silence_ended_is_posted() -> None:
    incident = recover(opened(silenced="silence #3 (deploy)"), T0 + 2 * MINUTE, "").incident
    change = reopen(incident, alert(), SRE, T0 + 10 * MINUTE)
    assert [(e.key, e.kind) for e in change.effects] == [("INC-7:post", "post")]
    assert change.incident.silenced == "" and change.incident.due == T0 + 10 * MINUTE


def test_a_never_posted_incident_asks_for_no_edit_and_no_reply() -> None:
    """Acting on a silenced incident (from /perf incidents) or its recovery has no message
    to edit and no thread to reply in."""
    incident = opened(silenced="silence #3 (deploy)")
    assert repeat(incident, alert(severity=Severity.CRITICAL), T0 + MINUTE).effects == []
    for what in (Act.ACKNOWLEDGE, Act.ESCALATE, Act.RESOLVE):
        change = applied(act(incident, what, "UANNA", T0 + MINUTE, policy=SRE))
        assert change.effects == [] and kinds(change) == [str(what)]
    snoozed = applied(act(incident, Act.SNOOZE, "UANNA", T0, policy=SRE,
                          snooze=timedelta(minutes=5))).incident
    assert swept(snoozed, T0 + 5 * MINUTE).effects == []
    done = recover(incident, T0 + MINUTE, "")
    assert done.effects == [] and done.incident.state is State.RESOLVED


# --- acts --------------------------------------------------------------------------------


def test_acknowledge_stops_escalation_until_the_ack_timeout() -> None:
    incident = swept(opened(), T0).incident
    change = applied(act(incident, Act.ACKNOWLEDGE, "UANNA", T0 + 2 * MINUTE, policy=SRE))
    acked = change.incident
    assert (acked.state, acked.acknowledged_by, acked.acknowledged_at) == (
        State.ACKNOWLEDGED, "UANNA", T0 + 2 * MINUTE)
    assert acked.escalation is not None and acked.escalation.acknowledged_by == "UANNA"
    assert acked.escalation.step == 1  # where it stood
    assert acked.due == T0 + 32 * MINUTE  # the reminder, after SRE's 30m ack timeout
    assert [(e.kind, e.user, e.text) for e in change.timeline] == [
        ("acknowledge", "UANNA", "acknowledged")]
    assert [e.key for e in change.effects] == [f"INC-7:update:{acked.version}"]


def test_acknowledge_without_an_ack_timeout_leaves_nothing_due() -> None:
    incident = swept(opened(PATIENT), T0, PATIENT).incident
    acked = applied(act(incident, Act.ACKNOWLEDGE, "UANNA", T0 + MINUTE,
                        policy=PATIENT)).incident
    assert acked.due is None and acked.escalation is not None
    assert acked.escalation.acknowledged


def test_snooze_holds_the_incident_until_it_ends() -> None:
    incident = swept(opened(), T0).incident
    change = applied(act(incident, Act.SNOOZE, "UANNA", T0 + MINUTE, policy=SRE,
                         snooze=timedelta(hours=1)))
    snoozed = change.incident
    assert (snoozed.state, snoozed.snoozed_by) == (State.ACKNOWLEDGED, "UANNA")
    assert snoozed.snoozed_until == snoozed.due == T0 + 61 * MINUTE
    assert [(e.kind, e.text) for e in change.timeline] == [("snooze", "snoozed for 1h")]
    assert isinstance(act(incident, Act.SNOOZE, "UANNA", T0, policy=SRE), Refused)


def test_resolve_by_a_person_says_who_and_after_how_long() -> None:
    change = applied(act(opened(), Act.RESOLVE, "UBEN", T0 + 45 * MINUTE, policy=SRE))
    done = change.incident
    assert (done.state, done.resolved_by, done.resolved_at) == (
        State.RESOLVED, "UBEN", T0 + 45 * MINUTE)
    assert done.resolution == "resolved by <@UBEN> after 45m"
    assert done.due is None
    assert [e.kind for e in change.effects] == ["update"]


def test_escalate_drops_the_acknowledgement_and_makes_the_next_step_due_now() -> None:
    incident = swept(opened(), T0).incident  # step 0 paged, step 1 due at +5m
    acked = applied(act(incident, Act.ACKNOWLEDGE, "UANNA", T0 + MINUTE, policy=SRE)).incident
    change = applied(act(acked, Act.ESCALATE, "UANNA", T0 + 2 * MINUTE, policy=SRE))
    escalated = change.incident
    assert (escalated.state, escalated.acknowledged_by) == (State.TRIGGERED, None)
    assert escalated.escalation is not None
    assert (escalated.escalation.step, escalated.escalation.acknowledged) == (1, False)
    assert escalated.due == T0 + 2 * MINUTE
    assert pages(swept(escalated, T0 + 2 * MINUTE)) == [("INC-7:0:1", ("UBOSS",), None)]


def test_escalate_after_the_policy_ran_out_runs_one_more_pass() -> None:
    incident = opened()
    for minute in (0, 5, 15):
        incident = swept(incident, T0 + minute * MINUTE).incident
    assert incident.due is None
    escalated = applied(act(incident, Act.ESCALATE, "UBEN", T0 + time(60), policy=SRE))
    assert escalated.incident.escalation is not None
    assert escalated.incident.escalation.extra_passes == 1
    assert pages(swept(escalated.incident, T0 + time(60))) == [("INC-7:1:0", ("UANNA",), None)]


@pytest.mark.parametrize("what", [Act.SILENCE, Act.SHOW_CHART])
def test_acts_that_change_no_incident_are_refused(what: Act) -> None:
    refused = act(opened(), what, "UANNA", T0, policy=SRE)
    assert isinstance(refused, Refused) and "does not change an incident" in refused.reason


@pytest.mark.parametrize("what", list(Act))
@pytest.mark.parametrize("how", ["by a person", "on its own"])
def test_every_act_on_a_resolved_incident_is_refused(what: Act, how: str) -> None:
    incident = opened()
    resolved = (applied(act(incident, Act.RESOLVE, "UBEN", T0 + MINUTE, policy=SRE)).incident
                if how == "by a person" else recover(incident, T0 + MINUTE, "p95 fine").incident)
    refused = act(resolved, what, "UANNA", T0 + 2 * MINUTE, policy=SRE,
                  snooze=timedelta(hours=1))
    assert isinstance(refused, Refused)
    assert refused.reason.startswith("INC-7 is already resolved (")
    assert ("resolved by <@UBEN> after 1m" if how == "by a person" else "p95 fine") \
        in refused.reason


# --- the sweep ---------------------------------------------------------------------------


def time(minutes: int) -> timedelta:
    return minutes * MINUTE


def test_without_an_acknowledgement_each_step_comes_after_its_wait() -> None:
    incident = opened()
    first = swept(incident, T0)
    assert pages(first) == [("INC-7:0:0", ("UANNA",), None)]
    assert [(e.kind, e.text) for e in first.timeline] == [("paged", "step 1, pass 1: <@UANNA>")]
    assert first.incident.level == 1 and first.incident.due == T0 + time(5)
    assert [e.kind for e in first.effects] == ["page", "update"]  # the level is shown

    early = swept(first.incident, T0 + time(4))
    assert early.incident == first.incident and early.effects == [] and early.timeline == []

    second = swept(first.incident, T0 + time(5))
    assert pages(second) == [("INC-7:0:1", ("UBOSS",), None)]
    assert second.incident.level == 2 and second.incident.due == T0 + time(15)

    third = swept(second.incident, T0 + time(15))
    assert pages(third) == [("INC-7:0:2", (), "here")]
    assert third.incident.due is None  # run out: nothing more until someone acts
    assert swept(third.incident, T0 + time(600)).effects == []


def test_steps_missed_while_down_are_all_caught_up_once() -> None:
    change = swept(opened(), T0 + time(20))
    assert [key for key, _, _ in pages(change)] == ["INC-7:0:0", "INC-7:0:1", "INC-7:0:2"]
    assert change.incident.level == 3
    assert [e.kind for e in change.effects].count("update") == 1


def test_an_acknowledged_incident_without_an_ack_timeout_is_left_alone() -> None:
    incident = swept(opened(PATIENT), T0, PATIENT).incident
    acked = applied(act(incident, Act.ACKNOWLEDGE, "UANNA", T0 + MINUTE,
                        policy=PATIENT)).incident
    for minute in (5, 15, 60, 24 * 60):
        later = swept(acked, T0 + time(minute), PATIENT)
        assert later.incident == acked and later.effects == [] and later.timeline == []


def test_an_ack_timeout_reminds_then_an_unanswered_reminder_sends_it_back() -> None:
    incident = swept(opened(), T0).incident
    acked = applied(act(incident, Act.ACKNOWLEDGE, "UANNA", T0 + time(2), policy=SRE)).incident
    assert swept(acked, T0 + time(31)).effects == []

    reminded = swept(acked, T0 + time(32))
    assert [(e.kind, e.notify.kind if e.notify else None, e.notify.users if e.notify else ())
            for e in reminded.effects] == [("page", "reminder", ("UANNA",))]
    assert reminded.effects[0].key == "INC-7:0:1:reminder:20261123T140200Z"
    assert kinds(reminded) == ["reminded"]
    assert reminded.incident.state is State.ACKNOWLEDGED  # still theirs for 10 minutes
    assert reminded.incident.level == 1  # a reminder is no escalation step
    assert reminded.incident.due == T0 + time(42)

    assert swept(reminded.incident, T0 + time(41)).effects == []
    dropped = swept(reminded.incident, T0 + time(42))
    back = dropped.incident
    assert (back.state, back.acknowledged_by, back.acknowledged_at) == (
        State.TRIGGERED, None, None)
    assert kinds(dropped) == ["unacknowledged", "paged"]
    assert pages(dropped) == [("INC-7:0:1", ("UBOSS",), None)]  # escalation goes on
    assert dropped.effects[-1].kind == "update" and back.level == 2
    assert back.due == T0 + time(52)


def test_an_answered_reminder_keeps_the_acknowledgement() -> None:
    incident = swept(opened(), T0).incident
    acked = applied(act(incident, Act.ACKNOWLEDGE, "UANNA", T0 + time(2), policy=SRE)).incident
    reminded = swept(acked, T0 + time(32)).incident
    answered = applied(act(reminded, Act.ACKNOWLEDGE, "UANNA", T0 + time(35),
                           policy=SRE)).incident
    assert answered.due == T0 + time(65)  # the next reminder, 30 minutes on
    assert swept(answered, T0 + time(42)).effects == []
    assert answered.state is State.ACKNOWLEDGED


def test_a_snooze_that_ends_returns_to_triggered_and_escalation_goes_on() -> None:
    incident = swept(opened(), T0).incident  # step 0 paged; step 1 due at +5m
    snoozed = applied(act(incident, Act.SNOOZE, "UANNA", T0 + MINUTE, policy=SRE,
                          snooze=timedelta(hours=1))).incident
    during = swept(snoozed, T0 + time(30))  # step 1 was due at +5m: held by the snooze
    assert during.incident == snoozed and during.effects == []

    woke = swept(snoozed, T0 + time(61))
    back = woke.incident
    assert (back.state, back.snoozed_until, back.snoozed_by, back.acknowledged_by) == (
        State.TRIGGERED, None, None, None)
    assert kinds(woke)[:1] == ["unsnoozed"]
    assert pages(woke) == [("INC-7:0:1", ("UBOSS",), None)]
    assert back.due == T0 + time(71)


def test_a_resolved_incident_is_never_swept() -> None:
    done = recover(opened(), T0 + MINUTE, "").incident
    change = swept(done, T0 + time(60))
    assert change.incident == done and change.effects == [] and change.timeline == []


def test_an_incident_whose_policy_is_gone_is_not_due_forever() -> None:
    """A policy removed from the settings: nothing can be paged, and the incident must not
    stay due in the past (the sweep would re-read it every few seconds)."""
    incident = opened()
    assert incident.due == T0
    change = swept(incident, T0 + MINUTE, policy=None)
    assert change.effects == []
    assert change.incident.due is None or change.incident.due > T0 + MINUTE


# --- keys: the same decision gives the same effects --------------------------------------


def test_the_same_decision_gives_the_same_keys() -> None:
    """A decision repeated after a crash (before or after it was stored) asks for the same
    effects under the same keys, so the outbox keeps each once."""
    raised = alert(chart=True)

    def open_() -> Change:
        return open_incident(7, raised, message(raised), channel="#c", policy=SRE,
                             urgency="high", silenced="", now=T0)

    assert open_().effects == open_().effects
    incident = open_().incident
    # The sweep re-run a little later (the crash cost two minutes): the same pages.
    assert keys(swept(incident, T0)) == keys(swept(incident, T0 + time(2)))
    assert keys(swept(incident, T0)) == ["INC-7:0:0", "INC-7:update:1"]
    acked = applied(act(incident, Act.ACKNOWLEDGE, "UANNA", T0 + MINUTE, policy=SRE))
    assert keys(acked) == keys(applied(act(incident, Act.ACKNOWLEDGE, "UANNA", T0 + MINUTE,
                                           policy=SRE)))
    assert keys(recover(incident, T0 + time(5), "a")) == keys(recover(incident, T0 + time(6),
                                                                      "b"))
    # A different decision on the same version keys its edit the same way: the outbox keeps
    # the first, and the version that wins the compare-and-set is the one stored.
    resolved = applied(act(incident, Act.RESOLVE, "UBEN", T0 + MINUTE, policy=SRE))
    assert keys(resolved) == keys(acked) == ["INC-7:update:1"]


def test_each_change_of_the_incident_is_shown_under_a_new_key() -> None:
    incident = opened()
    seen: set[str] = set()
    for change in _walk(incident):
        for effect in change.effects:
            assert effect.key not in seen, effect.key
            seen.add(effect.key)
    assert len(seen) >= 10


def keys(change: Change) -> list[str]:
    return [e.key for e in change.effects]


def _walk(incident: Incident) -> list[Change]:
    """A long life: paged, acknowledged, reminded, dropped, snoozed, woken, escalated,
    resolved, reopened, paged again, recovered."""
    changes: list[Change] = []

    def step(change: Change | Refused) -> Incident:
        changes.append(applied(change))
        return changes[-1].incident

    incident = step(swept(incident, T0))
    incident = step(act(incident, Act.ACKNOWLEDGE, "UANNA", T0 + time(2), policy=SRE))
    incident = step(swept(incident, T0 + time(32)))
    incident = step(swept(incident, T0 + time(42)))
    incident = step(act(incident, Act.SNOOZE, "UBOSS", T0 + time(43), policy=SRE,
                        snooze=timedelta(minutes=30)))
    incident = step(swept(incident, T0 + time(73)))
    incident = step(act(incident, Act.ESCALATE, "UBOSS", T0 + time(74), policy=SRE))
    incident = step(swept(incident, T0 + time(74)))
    incident = step(act(incident, Act.RESOLVE, "UBOSS", T0 + time(80), policy=SRE))
    incident = step(reopen(incident, alert(), SRE, T0 + time(90)))
    incident = step(swept(incident, T0 + time(90)))
    incident = step(swept(incident, T0 + time(95)))
    step(recover(incident, T0 + time(100), ""))
    return changes


def test_effects_carry_their_notification() -> None:
    change = swept(opened(), T0)
    page = change.effects[0]
    assert page == Effect(key="INC-7:0:0", kind="page", notify=page.notify)
    assert page.notify is not None and page.notify.incident == "INC-7"
    assert page.notify.due == T0 and page.notify.kind == "users"
    assert isinstance(change.incident.escalation, Position)
