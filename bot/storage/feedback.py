"""People's answers on detection alerts: was it useful, or noise? Stored with the alert's
signal, endpoint and the detector's evidence; read back as noise rates."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import delete, func, insert, select

from bot.incidents.lifecycle import Incident
from bot.storage.database import Database
from bot.storage.schema import feedback

Verdict = Literal["useful", "noise"]
VERDICTS: tuple[Verdict, ...] = ("useful", "noise")


class NoiseRate(BaseModel):
    """Answers for one signal or service: how many, and the share that said noise."""

    model_config = ConfigDict(frozen=True)

    name: str
    useful: int
    noise: int

    @property
    def rate(self) -> float:
        return self.noise / (self.useful + self.noise) if self.useful + self.noise else 0.0


def evidence_of(incident: Incident) -> str:
    """What the detector saw, as JSON: severity, the change and when it began, the cause it
    gave and the alert's labels."""
    alert = incident.alert
    return json.dumps({
        "severity": str(alert.severity), "title": alert.title, "cause": alert.summary,
        "starts_at": alert.starts_at.astimezone(UTC).isoformat(), "labels": alert.labels,
    }, sort_keys=True)


class FeedbackStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    def record(self, incident: Incident, verdict: Verdict, user: str, at: datetime) -> None:
        """``user``'s answer on ``incident``, replacing an earlier one of theirs."""
        if verdict not in VERDICTS:
            raise ValueError(f"a verdict is useful or noise, got {verdict!r}")
        alert = incident.alert
        with self.database.writing("record the feedback") as connection:
            connection.execute(delete(feedback).where(feedback.c.incident_id == incident.id)
                               .where(feedback.c.user == user))
            connection.execute(insert(feedback).values(
                incident_id=incident.id, user=user, verdict=verdict, at=at.astimezone(UTC),
                fingerprint=incident.fingerprint, signal=str(alert.signal or ""),
                service=alert.service, endpoint=alert.endpoint, evidence=evidence_of(incident)))

    def answers(self, incident_id: int) -> dict[str, Verdict]:
        """Each person's answer on an incident."""
        query = select(feedback.c.user, feedback.c.verdict).where(
            feedback.c.incident_id == incident_id)
        with self.database.reading("read the feedback") as connection:
            return {str(u): v for u, v in connection.execute(query).all()}

    def rates(self, by: Literal["signal", "service"]) -> list[NoiseRate]:
        """Noise rates per signal or per service, noisiest first."""
        column = feedback.c[by]
        query = (select(column, feedback.c.verdict, func.count())
                 .group_by(column, feedback.c.verdict))
        with self.database.reading("read the feedback") as connection:
            rows = connection.execute(query).all()
        counts: dict[str, dict[str, int]] = {}
        for name, verdict, n in rows:
            counts.setdefault(str(name), {"useful": 0, "noise": 0})[str(verdict)] = int(n)
        rates = [NoiseRate(name=name, **c) for name, c in counts.items()]
        return sorted(rates, key=lambda r: (-r.rate, r.name))
