"""Alert storms, decided without I/O: which posts waiting for one channel join a storm
already summarized there, and which are a new storm (more than the threshold decided within
a minute). ``bot.notify.outbox`` posts the summary and places the incidents in its thread."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.incidents.lifecycle import Incident

STORM_WINDOW = timedelta(minutes=1)


@dataclass
class Storm:
    """A storm summary posted in ``channel``: later posts of the same minute join its thread."""

    channel: str
    ts: str
    started: datetime  # when the first of its incidents was decided
    incidents: list[Incident] = field(default_factory=list)

    def over(self, now: datetime) -> bool:
        """Long enough ago that nothing decided now can belong to it."""
        return now - self.started > 2 * STORM_WINDOW


@dataclass(frozen=True)
class Placement:
    join: list[Incident]  # into the storm already summarized
    new: list[Incident]  # a new storm: one summary, each in its thread; empty: post alone
    started: datetime | None = None  # when the new storm's first incident was decided


def place(posts: Sequence[tuple[datetime, Incident]], storm: Storm | None,
          threshold: int) -> Placement:
    """``posts``: (decided at, incident) waiting for one channel, oldest first. Those decided
    within a minute of ``storm``'s start join it; of the rest, the ones decided within a
    minute of the first are a new storm when there are more than ``threshold``."""
    join = [incident for at, incident in posts
            if storm is not None and at - storm.started <= STORM_WINDOW]
    rest = [(at, incident) for at, incident in posts
            if storm is None or at - storm.started > STORM_WINDOW]
    if not rest:
        return Placement(join=join, new=[])
    first = rest[0][0]
    run = [incident for at, incident in rest if at - first <= STORM_WINDOW]
    return Placement(join=join, new=run if len(run) > threshold else [], started=first)
