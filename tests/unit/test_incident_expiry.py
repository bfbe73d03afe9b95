"""Alertmanager's incidents that resolve on their own (their alert's endsAt passed without a
repeat), read through the indexed ``expires_at`` on a real SQLite file: exactly the due
ones, however many incidents are open and wherever the due ones are among them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert

from bot.alerts.alertmanager import SOURCE as ALERTMANAGER
from bot.incidents.lifecycle import State, open_incident
from bot.incidents.service import Incidents
from bot.storage import Database
from bot.storage.incidents import IncidentStore, _columns
from bot.storage.schema import incidents
from tests.incident_parts import T0, alert, message, oncall

NOW = T0 + timedelta(hours=1)
OPEN = 10_050  # more than the 10,000 the sweep used to list


def test_expiry_resolves_exactly_the_due_ones_among_more_than_ten_thousand(
    tmp_path: Path,
) -> None:
    database = Database(f"sqlite:///{tmp_path / 'perfbot.db'}")
    # The oldest incidents are Alertmanager's: 1-3 ended before NOW, 4 ends after it, 5
    # ended but is resolved already; the 10,045 newer ones are the bot's own (no end).
    ends = {1: NOW - timedelta(minutes=5), 2: NOW - timedelta(seconds=1), 3: NOW,
            4: NOW + timedelta(seconds=1), 5: NOW - timedelta(hours=1)}
    rows = []
    for number in range(1, OPEN + 1):
        source = ALERTMANAGER if number in ends else "detection"
        raised = alert(f"GET /api/r{number}", source=source).model_copy(
            update={"ends_at": ends.get(number)})
        incident = open_incident(number, raised, message(raised), channel="C1", policy=None,
                                 urgency="high", silenced="", now=T0).incident
        if number == 5:
            incident = incident.model_copy(update={"state": State.RESOLVED,
                                                   "resolved_at": T0})
        rows.append({"id": number, **_columns(incident)})
    with database.engine().begin() as connection:
        connection.execute(insert(incidents), rows)
    store = IncidentStore(database)
    service = Incidents(store=store, oncall=oncall(), default_channel="C1",
                        reopen_within=timedelta(hours=1))
    try:
        resolved = service.expire(ALERTMANAGER, NOW)
        assert sorted(i.id for i in resolved) == [1, 2, 3]
        states = {n: store.get(n).state for n in (1, 2, 3, 4, 5, 6, OPEN)}  # type: ignore[union-attr]
        assert states == {1: State.RESOLVED, 2: State.RESOLVED, 3: State.RESOLVED,
                          4: State.TRIGGERED, 5: State.RESOLVED, 6: State.TRIGGERED,
                          OPEN: State.TRIGGERED}
        assert service.expire(ALERTMANAGER, NOW) == []  # resolved: not due any more
        later = service.expire(ALERTMANAGER, NOW + timedelta(seconds=1))
        assert [i.id for i in later] == [4]
    finally:
        database.close()
