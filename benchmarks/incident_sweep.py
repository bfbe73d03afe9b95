"""Time one escalation sweep over 10,000 open incidents, 1% of them due, and count its SQL.

The incidents are stored as ``IncidentStore.create`` stores them (the same columns and
JSON), in one transaction rather than 10,000 so that setting up takes seconds: 99% are
waiting between two steps of their policy (the first page sent, the next due in a few
minutes), 1% have their first step due now. Each run times one ``Incidents.sweep(now)``
and counts the statements the engine executes during it (SQLAlchemy's
``before_cursor_execute``); between runs the due incidents are put back as they were and
the timeline and outbox rows the sweep added are deleted, so every run does the same work.
Prints, never asserts.

``python -m benchmarks.incident_sweep [--incidents N] [--due-share F] [--runs R]
[--postgres URL]``  (the PostgreSQL database must be empty: the schema is migrated in it)
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, delete, event, func, insert, select, update

from bot.alerts.alertmanager import SOURCE as ALERTMANAGER
from bot.alerts.model import Alert
from bot.incidents.lifecycle import open_incident, sweep
from bot.incidents.service import Incidents
from bot.storage import Database
from bot.storage.incidents import IncidentStore, _columns
from bot.storage.schema import incidents, outbox, timeline
from tests.incident_parts import MINUTE, T0, alert, message, oncall

NOW = T0 + timedelta(hours=1)


def populate(database: Database, count: int, due_share: float) -> list[int]:
    """``count`` open incidents routed to the ``patient`` policy; the ids of the due ones."""
    service = _service(database)
    policy = service.oncall.policy("patient")
    every = max(1, round(1 / due_share)) if due_share > 0 else count + 1
    rows: list[dict[str, Any]] = []
    due: list[int] = []
    with database.engine().begin() as connection:
        if connection.execute(select(func.count()).select_from(incidents)).scalar_one():
            raise SystemExit("expected an empty database: this one already has incidents")
        for number in range(1, count + 1):
            raised: Alert = alert(f"GET /api/r{number}", service=f"svc{number % 50}")
            if number % every == 0:  # opened just now: its first step is due
                opened = open_incident(number, raised, message(raised), channel="#incidents",
                                       policy=policy, urgency="high", silenced="", now=NOW)
                incident = opened.incident
                due.append(number)
            else:  # paged 2 minutes ago: the next step is due in 3 minutes
                at = NOW - 2 * MINUTE
                opened = open_incident(number, raised, message(raised), channel="#incidents",
                                       policy=policy, urgency="high", silenced="", now=at)
                incident = sweep(opened.incident, policy, {}, (), at).incident
            # The columns IncidentStore.create writes, in one transaction for speed.
            rows.append({"id": number, **_columns(incident)})
            if len(rows) == 1000:
                connection.execute(insert(incidents), rows)
                rows = []
        if rows:
            connection.execute(insert(incidents), rows)
    return due


def _service(database: Database) -> Incidents:
    return Incidents(store=IncidentStore(database), oncall=oncall(),
                     default_channel="#incidents", reopen_within=timedelta(hours=1))


def measure(database: Database, due: list[int], runs: int) -> dict[str, Any]:
    service = _service(database)
    engine = database.engine()
    with engine.connect() as connection:
        saved = [dict(r) for r in connection.execute(
            select(incidents).where(incidents.c.id.in_(due))).mappings()]
        marks = _marks(connection)
    statements: list[str] = []

    def count(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        statements.append(sql.split(None, 1)[0].upper())

    def checkout(*args: Any) -> None:  # a connection from the pool (pre-pinged), then
        statements.append("(checkout)")  # returned with a rollback or after a commit

    seconds: list[float] = []
    per_run: list[Counter[str]] = []
    swept = 0
    for _ in range(runs):
        statements.clear()
        event.listen(engine, "before_cursor_execute", count)
        event.listen(engine.pool, "checkout", checkout)
        began = time.perf_counter()
        swept = service.sweep(NOW)
        seconds.append(time.perf_counter() - began)
        event.remove(engine, "before_cursor_execute", count)
        event.remove(engine.pool, "checkout", checkout)
        per_run.append(Counter(statements))
        with engine.begin() as connection:  # as it was, for the next run
            for row in saved:
                connection.execute(update(incidents).where(incidents.c.id == row["id"])
                                   .values(**{k: v for k, v in row.items() if k != "id"}))
            connection.execute(delete(timeline).where(timeline.c.id > marks[0]))
            connection.execute(delete(outbox).where(outbox.c.id > marks[1]))
    statements.clear()
    event.listen(engine, "before_cursor_execute", count)
    began = time.perf_counter()
    idle = service.sweep(NOW - 3 * MINUTE)  # nothing due: the sweep's fixed cost
    idle_seconds = time.perf_counter() - began
    idle_statements = Counter(statements)
    statements.clear()
    began = time.perf_counter()
    expired = service.expire(ALERTMANAGER, NOW)  # each sweep's first step: none are due
    expiry = (len(expired), time.perf_counter() - began, sum(Counter(statements).values()))
    event.remove(engine, "before_cursor_execute", count)
    return {"swept": swept, "seconds": seconds, "statements": per_run[-1],
            "idle": (idle, idle_seconds, idle_statements), "expiry": expiry}


def _marks(connection: Connection) -> tuple[int, int]:
    return (connection.execute(select(func.coalesce(func.max(timeline.c.id), 0))).scalar_one(),
            connection.execute(select(func.coalesce(func.max(outbox.c.id), 0))).scalar_one())


def report(name: str, database: Database, count: int, due_share: float, runs: int) -> None:
    began = time.perf_counter()
    due = populate(database, count, due_share)
    setup = time.perf_counter() - began
    figures = measure(database, due, runs)
    seconds = figures["seconds"]
    statements: Counter[str] = figures["statements"]
    checkouts = statements.pop("(checkout)", 0)
    total = sum(statements.values())
    idle, idle_seconds, idle_statements = figures["idle"]
    per = total / figures["swept"] if figures["swept"] else float("nan")
    kinds = ", ".join(f"{k} {v}" for k, v in statements.most_common())
    print(f"{name}: {count:,} open incidents, {len(due)} due (set up in {setup:.1f} s)")
    print(f"  sweep: median {statistics.median(seconds) * 1000:.0f} ms "
          f"(min {min(seconds) * 1000:.0f}, max {max(seconds) * 1000:.0f}, {runs} runs), "
          f"{figures['swept']} incidents swept")
    print(f"  statements per sweep: {total} ({per:.1f} per due incident): {kinds}; "
          f"{checkouts} connections taken from the pool")
    print(f"  nothing due: {idle_seconds * 1000:.1f} ms, {sum(idle_statements.values())} "
          f"statements ({idle} swept)")
    expired, expiry_seconds, expiry_statements = figures["expiry"]
    print(f"  expiry check (indexed expires_at): {expiry_seconds * 1000:.1f} ms, "
          f"{expiry_statements} statements, {expired} resolved")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--due-share", type=float, default=0.01)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--postgres", metavar="URL", help="an empty PostgreSQL database too")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="perfbot-sweep-") as folder:
        database = Database(f"sqlite:///{Path(folder) / 'perfbot.db'}")
        report("SQLite", database, args.incidents, args.due_share, args.runs)
        database.close()
    if args.postgres:
        database = Database(args.postgres)
        report("PostgreSQL", database, args.incidents, args.due_share, args.runs)
        database.close()


if __name__ == "__main__":
    main()
