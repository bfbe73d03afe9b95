"""PagerDuty and webhook steps as pure decisions: which effects a sweep and a person's act
store for PagerDuty, and the Events API v2 body drawn from an incident."""

from __future__ import annotations

from datetime import timedelta

from bot.alerts.acts import Act
from bot.analytics.findings.model import Severity
from bot.incidents.lifecycle import Change, Effect, Incident, act, open_incident, recover, sweep
from bot.incidents.policies import OnCallSettings, PagerDutyTarget, Policy
from bot.notify.pagerduty import SUMMARY_LIMIT, event
from tests.incident_factory import AT, alert, message

TARGET = PagerDutyTarget(routing_key_env="PERFBOT_PAGERDUTY_KEY")
KEY = "k" * 32
POLICY = OnCallSettings.model_validate({
    "policies": [{"name": "pd", "steps": [
        {"notify_pagerduty": {"routing_key_env": "PERFBOT_PAGERDUTY_KEY"}, "wait": "10m"},
        {"notify_webhook": {"url_env": "PERFBOT_HOOK_URL"}, "wait": "10m"},
    ]}], "routing": {"default": "pd"}}).policy("pd")


def opened(policy: Policy = POLICY, **alert_args: object) -> Incident:
    item = alert(7, **alert_args)  # type: ignore[arg-type]
    return open_incident(7, item, message(item), channel="C1", policy=policy,
                         urgency="high", silenced="", now=AT).incident


def swept(incident: Incident, minutes: int = 0) -> tuple[Incident, list[Effect]]:
    change = sweep(incident, POLICY, {}, [], AT + timedelta(minutes=minutes))
    return change.incident, change.effects


def outside(effects: list[Effect]) -> list[tuple[str, str | None]]:
    return [(e.kind, e.action) for e in effects if e.kind in ("pagerduty", "webhook")]


def test_a_pagerduty_step_stores_one_trigger_and_remembers_the_service() -> None:
    incident, effects = swept(opened())
    assert outside(effects) == [("pagerduty", "trigger")]
    assert incident.paged_out == (TARGET,)
    again, effects = swept(incident, 5)  # within the step's wait: nothing more
    assert outside(effects) == [] and again.paged_out == (TARGET,)
    later, effects = swept(incident, 10)  # the webhook step, the same service remembered once
    assert outside(effects) == [("webhook", "trigger")] and later.paged_out == (TARGET,)


def test_acknowledge_snooze_and_resolve_are_sent_on_escalate_is_not() -> None:
    incident, _ = swept(opened())
    for what, sent in ((Act.ACKNOWLEDGE, [("pagerduty", "acknowledge")]),
                       (Act.SNOOZE, [("pagerduty", "acknowledge")]),
                       (Act.RESOLVE, [("pagerduty", "resolve")]),
                       (Act.ESCALATE, [])):
        change = act(incident, what, "U1", AT, policy=POLICY, snooze=timedelta(hours=1))
        assert isinstance(change, Change)
        assert outside(change.effects) == sent, what
        assert all(e.pagerduty == TARGET for e in change.effects if e.kind == "pagerduty")
    resolved = recover(incident, AT + timedelta(minutes=1), "")
    assert outside(resolved.effects) == [("pagerduty", "resolve")]
    both, _ = swept(incident, 10)  # the webhook step ran too: both hear of the resolution
    resolved = recover(both, AT + timedelta(minutes=11), "")
    assert outside(resolved.effects) == [("pagerduty", "resolve"), ("webhook", "resolve")]


def test_an_incident_that_never_paged_pagerduty_sends_it_nothing() -> None:
    change = act(opened(), Act.ACKNOWLEDGE, "U1", AT, policy=POLICY)
    assert isinstance(change, Change) and outside(change.effects) == []


def test_the_trigger_body_fits_the_events_api() -> None:
    incident, _ = swept(opened(title="slow " * 500, severity=Severity.WARNING))
    body = event(incident, "trigger", TARGET, KEY)
    assert body["event_action"] == "trigger" and body["routing_key"] == KEY
    assert body["dedup_key"] == f"perfbot-INC-7-{incident.fingerprint}"
    assert len(body["payload"]["summary"]) == SUMMARY_LIMIT
    assert body["payload"]["severity"] == "warning"
    strict = PagerDutyTarget(severity="critical")
    assert event(incident, "trigger", strict, KEY)["payload"]["severity"] == "critical"
    assert event(incident, "resolve", TARGET, KEY) == {
        "routing_key": KEY, "event_action": "resolve", "dedup_key": body["dedup_key"]}
