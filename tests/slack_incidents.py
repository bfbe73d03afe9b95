"""Stored incidents on Slack, for the tests of their buttons and commands: a ``Perfbot`` on a
real database, its incidents opened through ``perfbot.incidents.fire`` and posted by the
outbox's delivery to the Slack Web API stand-in, and the real Bolt app over HTTP, sent
signed ``block_actions`` (presses) and slash commands."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import httpx

from bot.app import Perfbot
from bot.clock import FakeClock
from bot.config import IncidentsSettings, Settings, SlackSettings, StorageSettings
from bot.incidents.lifecycle import Incident
from bot.incidents.policies import OnCallSettings
from bot.incidents.service import Firing
from bot.metrics.base import MetricsBackend
from bot.render.blocks import ALERT_ACTIONS_BLOCK, ALERT_STATUS_BLOCK, alert_action_id
from bot.render.incident import incident_message
from tests.incident_factory import AT, alert, message
from tests.slack_bot import Bot
from tests.slack_standin import SlackStandIn

ADMIN, STRANGER, MEMBER = "U1", "U2", "U3"
GROUP = "S1"
CHANNEL = "C1"  # the incidents' channel (the default one: the factory's alerts have no owner)
USERS = {ADMIN: "Europe/Paris", STRANGER: "America/New_York", MEMBER: "Asia/Tokyo"}
ZONE = ZoneInfo("Europe/Berlin")
ANSWERS = "perfbot-answer-"  # the threads that run the work after an ack (inline=False)


def standin() -> SlackStandIn:
    """The stand-in the incidents are posted to: C1 and C2 (the bot is in both), three
    people, and the user group S1 (MEMBER and someone else)."""
    return SlackStandIn(channels={CHANNEL: True, "C2": True}, users=dict(USERS),
                        groups={GROUP: [MEMBER, "U9"]})


def perfbot_on(url: str, backend: MetricsBackend, *, oncall: OnCallSettings | None = None,
               storm_threshold: int = 5, **more: Any) -> Perfbot:
    """A bot on the database at ``url``: ADMIN is an admin, the members of GROUP may act,
    incidents go to CHANNEL, times are shown in Berlin; its clock stands at ``AT``.
    ``more``: other settings (``pagerduty=...``)."""
    settings = Settings(
        timezone="Europe/Berlin",
        storage=StorageSettings(url=url),
        slack=SlackSettings(admins=[ADMIN], allowed_groups=[GROUP]),
        incidents=IncidentsSettings(default_channel=CHANNEL, storm_threshold=storm_threshold),
        oncall=oncall or OnCallSettings(),
        **more,
    )
    return Perfbot(settings=settings, backend=backend, clock=FakeClock(AT))


class Served(Bot):
    """The Bolt app on loopback for ``perfbot``; incidents opened and posted through it."""

    def __init__(self, perfbot: Perfbot, slack: SlackStandIn, *, inline: bool = True) -> None:
        super().__init__(perfbot, slack, inline=inline)
        assert isinstance(perfbot.clock, FakeClock)
        self.clock = perfbot.clock
        self.store, self.audit = perfbot.incident_store, perfbot.audit
        # The one the buttons use: deliveries are kept per client.
        self.delivery = perfbot.delivery_for(self.client)

    def __enter__(self) -> Served:
        super().__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        self.perfbot.database.close()

    def fire(self, number: int = 1, **alert_args: Any) -> Incident:
        """An alert raised now: its incident opened (or updated), not yet delivered."""
        now = self.perfbot.now()
        item = alert(number, at=now, **alert_args)
        return self.perfbot.incidents.fire(Firing(alert=item, message=message(item)), now)

    def open(self, number: int = 1, **alert_args: Any) -> Incident:
        """An alert raised now, its incident posted (and its chart in the thread): the
        incident as stored, with its message's ts."""
        opened = self.fire(number, **alert_args)
        self.drain()
        posted = self.incident(opened.id)
        assert posted.message_ts is not None
        return posted

    def drain(self) -> None:
        """Deliver, a second apart (Slack's pace), until nothing is pending."""
        for _ in range(60):
            self.delivery.deliver(self.perfbot.now())
            if not self.store.pending(self.perfbot.now()):
                return
            self.clock.advance(timedelta(seconds=1))
        raise AssertionError(f"still pending: {self.store.pending(self.perfbot.now())}")

    def incident(self, incident_id: int) -> Incident:
        found = self.store.get(incident_id)
        assert found is not None
        return found

    def shown(self, incident: Incident) -> dict[str, Any]:
        """The incident's message as Slack shows it now."""
        assert incident.message_ts is not None
        return self.slack.message(incident.channel, incident.message_ts)

    def press_body(self, user: str, act: str, incident: Incident, *,
                   option: str | None = None, seen: dict[str, Any] | None = None) -> bytes:
        """What Slack sends when ``user`` presses ``act`` (or picks ``option`` in the Snooze
        menu) on the incident's message as it now stands in the channel, or as ``seen``
        (a copy from before: a client that had not refreshed)."""
        name = incident.name
        element: dict[str, Any] = {"action_id": alert_action_id(act, name),
                                   "block_id": ALERT_ACTIONS_BLOCK, "action_ts": "1700000100.1"}
        if option is None:
            element |= {"type": "button", "value": name}
        else:
            element |= {"type": "static_select",
                        "selected_option": {"text": {"type": "plain_text", "text": option},
                                            "value": f"{option}|{name}"}}
        return self.actions_body(user, incident, element, seen=seen)

    def actions_body(self, user: str, incident: Incident, element: dict[str, Any], *,
                     seen: dict[str, Any] | None = None) -> bytes:
        """The signed form's body of a ``block_actions``: ``user`` used ``element`` (a
        button or a menu of any of the message's blocks) on the incident's message as it
        now stands in the channel, or as ``seen``."""
        shown = seen if seen is not None else self.shown(incident)
        ts = incident.message_ts
        payload = {
            "type": "block_actions", "token": "legacy", "api_app_id": "A1",
            "team": {"id": "T1"}, "user": {"id": user, "team_id": "T1"},
            "container": {"type": "message", "message_ts": ts, "channel_id": incident.channel},
            "channel": {"id": incident.channel, "name": "alerts"}, "trigger_id": "1.2.3",
            "message": {"type": "message", "user": "UBOT", "ts": ts,
                        "thread_ts": shown.get("thread_ts"),
                        "text": shown["text"], "blocks": shown["blocks"]},
            "response_url": f"{self.slack.url}/response/2", "actions": [element],
        }
        return urlencode({"payload": json.dumps(payload)}).encode()

    def press(self, user: str, act: str, incident: Incident, *, option: str | None = None,
              signature: str | None = None, http: httpx.Client | None = None,
              seen: dict[str, Any] | None = None) -> httpx.Response:
        """``user`` presses ``act`` on ``incident``'s message (as ``seen``, if given)."""
        return self.send(self.press_body(user, act, incident, option=option, seen=seen),
                         "application/x-www-form-urlencoded", signature=signature, http=http)

    def press_together(self, presses: list[tuple[str, str]], incident: Incident) -> None:
        """Each ``(user, act)`` pressed at the same moment, from threads of their own."""
        start = threading.Barrier(len(presses))
        answers: list[int] = []

        def press(user: str, act: str) -> None:
            body = self.press_body(user, act, incident)
            with httpx.Client(timeout=30) as http:
                start.wait(timeout=10)
                response = self.send(body, "application/x-www-form-urlencoded", http=http)
            answers.append(response.status_code)

        threads = [threading.Thread(target=press, args=pressed) for pressed in presses]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert answers == [200] * len(presses)


def answers_done(timeout: float = 30.0) -> None:
    """Wait until the work started after acks (inline=False) has finished."""
    deadline = time.monotonic() + timeout
    while any(t.name.startswith(ANSWERS) for t in threading.enumerate()):
        if time.monotonic() > deadline:
            raise AssertionError("the work after the acks never finished")
        time.sleep(0.02)


def acts_left(blocks: list[dict[str, Any]]) -> list[str]:
    """The buttons on a message, by act."""
    found = [b for b in blocks if b.get("block_id") == ALERT_ACTIONS_BLOCK]
    return [e["action_id"].split(":")[0].removeprefix("alert.")
            for b in found for e in b["elements"]]


def status(blocks: list[dict[str, Any]]) -> str:
    """The message's status lines."""
    (block,) = [b for b in blocks if b.get("block_id") == ALERT_STATUS_BLOCK]
    return "\n".join(e["text"] for e in block["elements"])


def drawn_from(incident: Incident) -> dict[str, Any]:
    """The text and blocks the incident's message has when drawn from ``incident``."""
    drawn = incident_message(incident, ZONE)
    return {"text": drawn.text, "blocks": list(drawn.blocks)}


def shows(shown: dict[str, Any], incident: Incident) -> bool:
    """Whether a message as Slack shows it is the one drawn from ``incident``."""
    return {"text": shown["text"], "blocks": shown["blocks"]} == drawn_from(incident)


def told(slack: SlackStandIn) -> list[str]:
    """What slash commands told their askers, privately."""
    replies = slack.calls("response_url")
    assert all(r.args["response_type"] == "ephemeral" for r in replies)
    return [r.args["text"] for r in replies]
