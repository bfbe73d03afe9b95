"""``digests:`` settings: configured schedules, the grace for late posts, and the figures
the content reads (saturation thresholds, the SLO window). Validated at the boundary."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.digests.model import Scope
from bot.digests.schedule import When, parse_when
from bot.durations import Duration, parse_duration


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DigestSchedule(_Strict):
    """``{when: "daily 09:00 Europe/Berlin", channel: "#team-payments", team: payments}``."""

    when: str
    """daily HH:MM or weekly DAY HH:MM, then an optional IANA zone (default: timezone)."""
    channel: str = Field(min_length=1)
    """The Slack channel it is posted in."""
    team: str | None = None  # a catalog owner
    """Only this team's endpoints (a catalog owner)."""
    service: str | None = None
    """Only this service's endpoints."""

    @field_validator("when")
    @classmethod
    def _when(cls, value: str) -> str:
        parse_when(value)  # syntax (and an explicit zone) checked here; ValueError says how
        return " ".join(value.split())

    @model_validator(mode="after")
    def _one_scope(self) -> DigestSchedule:
        if self.team and self.service:
            raise ValueError("expected a team or a service, not both")
        return self

    def parsed(self, default_zone: str) -> When:
        return parse_when(self.when, default_zone)

    @property
    def scope(self) -> Scope:
        return Scope(team=self.team, service=self.service)


class SaturationThresholds(_Strict):
    """Utilisation (0..1) a forecast warns at."""

    cpu: float = Field(default=0.9, gt=0, le=1)
    """CPU share of the limit (0..1) a capacity forecast warns at."""
    memory: float = Field(default=0.9, gt=0, le=1)
    """Memory share of the limit (0..1) a capacity forecast warns at."""


class DigestSettings(_Strict):
    # A digest not posted within this after its time (the bot was down) is skipped.
    grace: Duration = parse_duration("6h")
    """A digest not posted within this after its time (the bot was down) is skipped."""
    schedules: list[DigestSchedule] = []
    """Digests posted on schedule (more come from /perf digest subscribe)."""
    saturation: SaturationThresholds = SaturationThresholds()
    """Utilisation thresholds of the capacity forecasts."""
    slo_window: Duration = parse_duration("28d")
    """The error budget's window."""

    @field_validator("grace", "slo_window")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("expected a positive duration like '6h'")
        return value
