"""PagerDuty and webhook steps, end to end: incidents opened through ``perfbot.incidents``
on a real SQLite file, escalated by the sweep on a FakeClock, their effects carried out by
the real outbox (``Delivery``) to the Slack stand-in and to a PagerDuty Events API v2
stand-in on loopback that checks each body against the v2 schema; acknowledgements and
resolutions pressed over signed HTTP on the real Bolt app. Every assertion is on what the
stand-ins received, the store, or the log."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.app import Perfbot
from bot.incidents.lifecycle import Incident
from bot.incidents.policies import OnCallSettings, PagerDutySettings
from bot.metrics.demo import DemoBackend
from bot.schedule import sweep_once
from bot.storage import StorageError
from tests.integration.test_config_secrets_process import perfbot as perfbot_process
from tests.integration.test_config_secrets_process import run_args
from tests.integration.test_outbox_restart import fail_once
from tests.pagerduty_standin import ROUTING_KEY, Event, PagerDutyStandIn, WebhookReceiver
from tests.slack_incidents import ADMIN, Served, perfbot_on, standin
from tests.slack_standin import SlackStandIn

pytestmark = pytest.mark.integration

KEY_ENV = "PERFBOT_TEST_PAGERDUTY_KEY"
URL_ENV, SECRET_ENV = "PERFBOT_TEST_WEBHOOK_URL", "PERFBOT_TEST_WEBHOOK_SECRET"
SECRET = "whsec-standin-5ecret"
PAGING = OnCallSettings.model_validate({
    "policies": [{"name": "pd", "steps": [
        {"notify_pagerduty": {"routing_key_env": KEY_ENV}, "wait": "10m"},
        {"notify_users": ["U9"], "wait": "10m"},
    ]}],
    "routing": {"default": "pd"}})
HOOKED = OnCallSettings.model_validate({
    "policies": [{"name": "hook", "steps": [
        {"notify_webhook": {"url_env": URL_ENV, "secret_env": SECRET_ENV}},
    ]}],
    "routing": {"default": "hook"}})


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with standin() as running:
        yield running


@pytest.fixture
def pagerduty(monkeypatch: pytest.MonkeyPatch) -> Iterator[PagerDutyStandIn]:
    monkeypatch.setenv(KEY_ENV, ROUTING_KEY)
    with PagerDutyStandIn() as running:
        yield running


@pytest.fixture
def database(tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """SQLite, or PostgreSQL for the tests parametrized with ``database="postgresql"``."""
    if getattr(request, "param", "sqlite") == "postgresql":
        return str(request.getfixturevalue("postgres_db"))
    return f"sqlite:///{tmp_path / 'perfbot.db'}"


BOTH = pytest.mark.parametrize("database", ["sqlite", "postgresql"], indirect=True)


def bot_on(database: str, backend: DemoBackend, pagerduty: PagerDutyStandIn,
           oncall: OnCallSettings = PAGING) -> Perfbot:
    return perfbot_on(database, backend, oncall=oncall,
                      pagerduty=PagerDutySettings(events_url=pagerduty.events_url))


@pytest.fixture
def served(database: str, demo_backend: DemoBackend, pagerduty: PagerDutyStandIn,
           slack: SlackStandIn) -> Iterator[Served]:
    with Served(bot_on(database, demo_backend, pagerduty), slack) as running:
        yield running


def escalated(served: Served, **alert_args: object) -> Incident:
    """An incident posted, then swept by the loop's tick, which delivers what it decided:
    its first step (PagerDuty) is due at once."""
    opened = served.open(**alert_args)  # type: ignore[arg-type]
    sweep_once(served.perfbot, served.clock.now(), served.delivery.deliver)
    return opened


def later(served: Served, span: timedelta) -> None:
    """Time passes; the loop ticks: the sweep, then the outbox delivers what is due."""
    sweep_once(served.perfbot, served.clock.advance(span), served.delivery.deliver)


def actions(events: list[Event]) -> list[tuple[str | None, int]]:
    return [(e.action, e.status) for e in events]


@BOTH
def test_a_pagerduty_step_triggers_once_and_slack_ack_and_resolve_are_sent_on(
    served: Served, pagerduty: PagerDutyStandIn,
) -> None:
    incident = escalated(served)
    served.drain()
    expected_key = f"perfbot-INC-{incident.id}-{incident.fingerprint}"
    (trigger,) = pagerduty.events
    assert trigger.status == 202, trigger.errors
    assert trigger.body is not None
    assert trigger.body["routing_key"] == ROUTING_KEY
    assert trigger.action == "trigger" and trigger.dedup_key == expected_key
    payload = trigger.body["payload"]
    assert payload["summary"] == f"{incident.name}: orders p95 latency up"
    assert payload["severity"] == "critical" and payload["source"] == "orders"
    assert payload["custom_details"]["evidence"] == {
        section.title: section.text for section in incident.message.sections}
    (link,) = trigger.body["links"]  # the message in Slack, with its chart in the thread
    assert incident.message_ts is not None
    assert link["href"] == (f"https://test.slack.com/archives/{incident.channel}/"
                            f"p{incident.message_ts.replace('.', '')}")
    assert trigger.body["client_url"] == link["href"]
    # Later sweeps within the step's wait trigger nothing more.
    for _ in range(3):
        later(served, timedelta(minutes=2))
    assert len(pagerduty.events) == 1
    assert served.press(ADMIN, "acknowledge", served.incident(incident.id)).status_code == 200
    served.drain()
    assert served.press(ADMIN, "resolve", served.incident(incident.id)).status_code == 200
    served.drain()
    assert actions(pagerduty.events) == [("trigger", 202), ("acknowledge", 202),
                                         ("resolve", 202)]
    assert {e.dedup_key for e in pagerduty.events} == {expected_key}
    assert all(e.body and e.body["routing_key"] == ROUTING_KEY for e in pagerduty.events)
    # The key is read from the environment when sending: the store never holds it.
    assert ROUTING_KEY not in repr(served.store.outbox())
    assert ROUTING_KEY not in repr(served.store.timeline(incident.id))
    assert ROUTING_KEY not in repr(served.incident(incident.id))


def test_a_summary_longer_than_pagerdutys_limit_is_cut_and_accepted(
    served: Served, pagerduty: PagerDutyStandIn,
) -> None:
    escalated(served, title="orders p95 latency up " + "x" * 2000)
    served.drain()
    (trigger,) = pagerduty.events
    assert trigger.status == 202, trigger.errors
    assert trigger.body is not None and len(trigger.body["payload"]["summary"]) == 1024


def test_a_recovery_on_its_own_resolves_in_pagerduty(
    served: Served, pagerduty: PagerDutyStandIn,
) -> None:
    incident = escalated(served)
    served.drain()
    served.perfbot.incidents.cycle([], "detection", served.clock.advance(timedelta(minutes=3)))
    served.drain()
    assert actions(pagerduty.events) == [("trigger", 202), ("resolve", 202)]
    assert pagerduty.events[1].dedup_key == pagerduty.events[0].dedup_key
    assert served.incident(incident.id).state == "resolved"


@pytest.mark.parametrize("status", [429, 500, 503])
def test_a_throttled_or_failed_trigger_is_retried_with_backoff_and_accepted_once(
    served: Served, pagerduty: PagerDutyStandIn, status: int,
) -> None:
    pagerduty.answer(status)
    incident = escalated(served)
    assert actions(pagerduty.events) == [("trigger", status)]
    (item,) = [i for i in served.store.outbox(incident.id) if i.effect.kind == "pagerduty"]
    assert item.sent_at is None and item.attempts == 1
    assert f"with {status}" in item.last_error
    later(served, timedelta(seconds=1))  # the backoff has not passed: not yet
    assert len(pagerduty.events) == 1
    later(served, timedelta(seconds=5))
    served.drain()
    later(served, timedelta(minutes=5))
    assert actions(pagerduty.events) == [("trigger", status), ("trigger", 202)]
    assert pagerduty.events[0].body == pagerduty.events[1].body


def test_a_refused_trigger_is_logged_said_on_the_timeline_and_not_retried(
    served: Served, pagerduty: PagerDutyStandIn, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bad_key = ROUTING_KEY[:-1]  # 31 characters: PagerDuty's schema refuses it with a 400
    monkeypatch.setenv(KEY_ENV, bad_key)
    caplog.set_level(logging.INFO)
    incident = escalated(served)
    served.drain()
    for _ in range(4):  # however long one waits, it is not sent again
        later(served, timedelta(minutes=10))
    assert actions(pagerduty.events) == [("trigger", 400)]
    assert pagerduty.events[0].errors == ("'routing_key' must be a string of 32 characters",)
    (item,) = [i for i in served.store.outbox(incident.id) if i.effect.kind == "pagerduty"]
    assert item.sent_at is not None and item.attempts == 1
    said = [e.text for e in served.store.timeline(incident.id) if e.kind == "pagerduty"]
    assert said == ["trigger: not sent: PagerDuty answered the trigger with 400: Event object "
                    "is invalid: 'routing_key' must be a string of 32 characters"]
    refused = [r for r in caplog.records if "refused, not retried" in r.getMessage()]
    assert len(refused) == 1 and refused[0].levelno == logging.ERROR
    assert bad_key not in caplog.text


def test_a_trigger_still_retrying_when_someone_acknowledges_is_dropped(
    served: Served, pagerduty: PagerDutyStandIn,
) -> None:
    pagerduty.answer(500)
    incident = escalated(served)
    assert served.press(ADMIN, "acknowledge", served.incident(incident.id)).status_code == 200
    served.drain()
    for _ in range(3):
        later(served, timedelta(minutes=1))
    # PagerDuty never hears of a trigger after the acknowledgement.
    assert actions(pagerduty.events) == [("trigger", 500), ("acknowledge", 202)]


@BOTH
def test_a_restart_neither_drops_nor_repeats_an_event(
    served: Served, pagerduty: PagerDutyStandIn, database: str, demo_backend: DemoBackend,
) -> None:
    pagerduty.answer(500)
    incident = escalated(served)
    assert actions(pagerduty.events) == [("trigger", 500)]
    # Killed while the trigger waits for its retry. A new bot on the same store sends it
    # once, and a bot started after that sends nothing again.
    for _ in range(2):
        restarted = bot_on(database, demo_backend, pagerduty)
        assert isinstance(restarted.clock, type(served.clock))
        restarted.clock.advance(served.clock.now() - restarted.clock.now()
                                + timedelta(minutes=1))
        sweep_once(restarted, restarted.clock.now(),
                   restarted.delivery_for(served.client).deliver)
        restarted.database.close()
    assert actions(pagerduty.events) == [("trigger", 500), ("trigger", 202)]
    assert served.store.pending(served.clock.now() + timedelta(hours=1)) == []
    assert served.incident(incident.id).paged_out  # what the ack will be sent on to


def test_a_webhook_step_posts_the_incident_signed(
    database: str, demo_backend: DemoBackend, pagerduty: PagerDutyStandIn,
    slack: SlackStandIn, monkeypatch: pytest.MonkeyPatch,
) -> None:
    with WebhookReceiver(SECRET) as hook, Served(
            bot_on(database, demo_backend, pagerduty, HOOKED), slack) as served:
        monkeypatch.setenv(URL_ENV, f"{hook.url}/perfbot")
        monkeypatch.setenv(SECRET_ENV, SECRET)
        incident = escalated(served)
        served.drain()
        later(served, timedelta(minutes=5))
        event = hook.events[0]
        assert len(hook.events) == 1 and event.status == 204, event.errors
        assert event.body is not None
        assert event.body["event"] == "trigger" and event.body["incident"] == incident.name
        assert event.body["details"]["evidence"] == {
            section.title: section.text for section in incident.message.sections}
        assert event.headers["X-Perfbot-Delivery"] == f"{incident.name}:0:0"
        for act in ("acknowledge", "resolve"):  # sent on, like PagerDuty's
            assert served.press(ADMIN, act, served.incident(incident.id)).status_code == 200
            served.drain()
        assert [(e.body or {}).get("event") for e in hook.accepted()] == [
            "trigger", "acknowledge", "resolve"]
        assert [(e.body or {}).get("state") for e in hook.accepted()] == [
            "triggered", "acknowledged", "resolved"]
        assert len({e.headers["X-Perfbot-Delivery"] for e in hook.events}) == 3
        assert pagerduty.events == []


def test_a_webhook_that_refuses_the_signature_is_not_retried(
    database: str, demo_backend: DemoBackend, pagerduty: PagerDutyStandIn,
    slack: SlackStandIn, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    with WebhookReceiver(SECRET) as hook, Served(
            bot_on(database, demo_backend, pagerduty, HOOKED), slack) as served:
        monkeypatch.setenv(URL_ENV, f"{hook.url}/perfbot")
        monkeypatch.setenv(SECRET_ENV, "not-the-receivers-secret")
        incident = escalated(served)
        served.drain()
        later(served, timedelta(minutes=30))
        assert [(e.status, e.errors) for e in hook.events] == [(401, ("bad signature",))]
        said = [e.text for e in served.store.timeline(incident.id) if e.kind == "webhook"]
        assert said == [f"trigger: not sent: the webhook of {URL_ENV} answered 401: "
                        "bad signature"]
        assert hook.url not in caplog.text and "not-the-receivers-secret" not in caplog.text


def test_a_trigger_pagerduty_took_whose_mark_failed_is_not_sent_again(
    served: Served, pagerduty: PagerDutyStandIn, monkeypatch: pytest.MonkeyPatch,
) -> None:
    served.open()
    fail_once(monkeypatch, served.store, "sent")
    with pytest.raises(StorageError):  # PagerDuty took it; marking it sent failed
        sweep_once(served.perfbot, served.clock.now(), served.delivery.deliver)
    for _ in range(3):
        later(served, timedelta(minutes=1))
    assert actions(pagerduty.events) == [("trigger", 202)]
    assert served.store.pending(served.clock.now() + timedelta(hours=1)) == []


def test_a_trigger_failing_eight_times_is_given_up_and_said_on_the_timeline(
    served: Served, pagerduty: PagerDutyStandIn,
) -> None:
    pagerduty.answer(*[502] * 8)
    incident = escalated(served)
    for _ in range(12):  # the backoff's 5 s, 10 s … 320 s, and then some
        later(served, timedelta(minutes=2))
    assert actions(pagerduty.events) == [("trigger", 502)] * 8
    said = [e.text for e in served.store.timeline(incident.id) if e.kind == "pagerduty"]
    assert said == ["trigger: gave up after 8 attempts: PagerDuty answered the trigger with "
                    "502: internal error"]


def test_perfbot_run_refuses_to_start_without_a_steps_routing_key(
    tmp_path: Path, slack: SlackStandIn,
) -> None:
    config = tmp_path / "perfbot.yaml"
    config.write_text(
        "oncall:\n  policies:\n    - name: pd\n      steps:\n"
        f"        - notify_pagerduty: {{routing_key_env: {KEY_ENV}}}\n"
        f"        - notify_webhook: {{url_env: {URL_ENV}}}\n"
        "  routing: {default: pd}\n", encoding="utf-8")
    done = perfbot_process(tmp_path, *run_args(config, slack))
    assert done.returncode == 2, done.stdout + done.stderr
    assert (f"{KEY_ENV} is not set (the PagerDuty routing key of policy 'pd' step 1); "
            f"{URL_ENV} is not set (the webhook's URL of policy 'pd' step 2)") in done.stderr
    assert "Traceback" not in done.stderr
    assert slack.calls("auth.test") == []  # refused before anything was reached
