"""The sections of ``Settings`` that have no package of their own: metrics, storage,
detection, leader election, incidents, Slack, the operational HTTP port and Alertmanager.
``bot.config`` composes them (and the sections of ``bot.catalog``, ``bot.digests`` and
``bot.metrics``) into the whole settings; import them from there."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.db_url import hidden, masked, parse_url
from bot.durations import Duration, format_duration, parse_duration
from bot.metrics.settings import MetricNames, PrometheusSettings, SaturationMetrics


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MetricsSettings(_Strict):
    backend: Literal["demo", "prometheus"] = "demo"
    """demo: the embedded synthetic workload; prometheus: a real server (or anything speaking its
    HTTP API: Thanos, Mimir, VictoriaMetrics)."""
    prometheus: PrometheusSettings = PrometheusSettings()
    """How the Prometheus server is reached."""
    names: MetricNames = MetricNames()
    """How the HTTP latency histogram and its labels are named (detected when unset)."""
    saturation: SaturationMetrics = SaturationMetrics()
    """The CPU and memory metrics of saturation and cost (detected when unset)."""
    demo_seed: int = 7
    """The demo workload's random seed: the same seed, the same data."""
    demo_days: int = Field(default=30, ge=2, le=90)
    """How many days of one-minute data the demo workload holds."""


class IncidentsSettings(_Strict):
    """Where incidents are posted and how they are grouped."""

    # Where an incident goes when the catalog names no channel for its endpoint or service.
    default_channel: str = Field(default="#incidents", min_length=1)
    """Where an incident is posted when the catalog names no channel for its endpoint or service."""
    # A recurrence this soon after resolution reopens the incident instead of a new one.
    reopen_within: Duration = parse_duration("1h")
    """A recurrence this soon after resolution reopens the incident instead of opening a new one."""
    # More incidents than this opening in one channel within a minute: one summary message.
    storm_threshold: int = Field(default=5, ge=1)
    """More incidents than this opening in one channel within a minute: one summary, each in its
    thread."""


class DetectionSettings(_Strict):
    """How often ``perfbot run`` looks for anomalies, and over what span."""

    interval: Duration = parse_duration("5m")
    """How often `perfbot run` runs a detection cycle."""
    # Findings active within this span before now are current (older ones have ended).
    window: Duration = parse_duration("1h")
    """Findings active within this span before now are current; older ones have ended."""
    sensitivity: dict[str, Literal["low", "normal", "high"]] = {}
    """How readily a service or endpoint alerts, by service name or "SERVICE METHOD /route": low
    (fewer alerts: larger, longer changes), normal, high (smaller, shorter ones). `perfbot detect
    --replay 7d` shows its effect on past data."""


def _between(value: timedelta, low: timedelta, high: timedelta) -> timedelta:
    if not low <= value <= high:
        raise ValueError(f"expected a duration from {format_duration(low)} to "
                         f"{format_duration(high)}, got {format_duration(value)!r}")
    return value


class LeaderSettings(_Strict):
    """Several ``perfbot run`` on one PostgreSQL: one leads (detection, escalation, digests).
    When it dies or is cut off, another leads within ``takeover``."""

    # At least 10s: the server's keepalives count whole seconds and must free a silent
    # leader's lock within a third of it (``bot.storage.leader.timings``). At most 10m:
    # longer, and nobody is paged meanwhile.
    takeover: Duration = parse_duration("30s")
    """Several `perfbot run` on one PostgreSQL: when the leader dies or is cut off, another leads
    within this (10s to 10m)."""

    @field_validator("takeover")
    @classmethod
    def _bounded(cls, value: timedelta) -> timedelta:
        return _between(value, timedelta(seconds=10), timedelta(minutes=10))


class StorageSettings(_Strict):
    url: str = "sqlite:///perfbot.db"
    """The bot's database: sqlite:///FILE, or postgresql+psycopg://USER@HOST/DB (a password belongs
    in PERFBOT_STORAGE__URL)."""

    @field_validator("url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        # Found here, with its password masked, rather than as a traceback when first used.
        problem = url_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value


class SlackSettings(_Strict):
    """Who may acknowledge, snooze, resolve and escalate alerts from Slack, and how many
    questions are worked on at once.

    Anyone may press "Show chart". Admins may do everything; so may ``allowed_users``,
    members of ``allowed_groups`` (Slack user groups, looked up and cached for
    ``group_cache``) and whoever is on call for the alert's policy.
    """

    admins: list[str] = []
    """Slack user ids (U…) who may do everything."""
    allowed_users: list[str] = []
    """Slack user ids (U…) who may acknowledge, snooze, resolve and escalate."""
    allowed_groups: list[str] = []
    """Slack user group ids (S…) whose members may acknowledge, snooze, resolve and escalate."""
    group_cache: Duration = parse_duration("5m")
    """How long a user group's members are remembered."""
    # Answers computed at once (queries and charts); more wait, after their "looking…".
    answer_workers: int = Field(default=8, ge=1, le=64)
    """Answers computed at once; more wait after their "looking…"."""
    # Questions one person may have in progress: nobody can take every answer slot.
    questions_per_user: int = Field(default=3, ge=1, le=64)
    """Questions one person may have in progress at once."""

    @field_validator("admins", "allowed_users")
    @classmethod
    def _user_ids(cls, value: list[str]) -> list[str]:
        return _slack_ids(value, ("U", "W"), "a Slack user id like 'U024BE7LH'")

    @field_validator("allowed_groups")
    @classmethod
    def _group_ids(cls, value: list[str]) -> list[str]:
        return _slack_ids(value, ("S",), "a Slack user group id like 'S0614TZR7'")


def _slack_ids(value: list[str], prefixes: tuple[str, ...], what: str) -> list[str]:
    # Names ("@alice", "sre-leads") change and are ambiguous; Slack's ids do not.
    for item in value:
        if not (item[:1] in prefixes and item[1:].isalnum() and item.isupper()):
            raise ValueError(f"expected {what}, got {item!r} (Slack shows it in the "
                             "profile's or group's \"Copy ID\" menu)")
    return value


class ServerSettings(_Strict):
    """The operational HTTP port ``perfbot run`` always serves (Alertmanager's webhook;
    with ``--http PORT`` everything, Slack's events included, is on PORT instead)."""

    listen: str = "0.0.0.0:8080"
    """HOST:PORT of the operational HTTP port (health, metrics, Alertmanager's webhook)."""
    # Kubernetes sends SIGKILL 30 s after SIGTERM (terminationGracePeriodSeconds): stop first.
    stop_within: Duration = parse_duration("25s")
    """After SIGTERM, how long the work in progress (a tick writing, answers) gets before the
    process exits anyway (1s to 10m); a tick cut is done again by the next leader."""

    @field_validator("stop_within")
    @classmethod
    def _stop_bounded(cls, value: timedelta) -> timedelta:
        return _between(value, timedelta(seconds=1), timedelta(minutes=10))

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(f"expected HOST:PORT like 0.0.0.0:8080, got {value!r}")
        return value

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


class AlertmanagerSettings(_Strict):
    """Where silences for Alertmanager's incidents are created (its API's base URL, like
    http://alertmanager:9093); unset: Alertmanager's incidents cannot be silenced there."""

    url: str | None = None
    """Alertmanager's API base URL (like http://alertmanager:9093), where silences are created;
    unset: not silenced there."""
    timeout: float = Field(default=5.0, gt=0, le=60)
    """Seconds a call to Alertmanager's API may take."""
    # Alertmanager never says when a firing alert ends (its webhook's endsAt is zero until
    # it resolves): an alert not repeated for this long resolves on its own. Longer than
    # the route's repeat_interval (Alertmanager's default: 4h).
    resolve_after: Duration = parse_duration("5h")
    """An Alertmanager alert not repeated for this long resolves on its own (longer than the route's
    repeat_interval)."""


def url_problem(url: str) -> str | None:
    """Why ``url`` is not a database URL SQLAlchemy can read, its password masked; None
    when it is one. Read without SQLAlchemy (``bot.db_url``): loading the settings stays fast."""
    try:
        parse_url(url)
    except ValueError as exc:
        return (f"expected a database URL like postgresql+psycopg://USER:PASSWORD@HOST/DB "
                f"(a password with / @ : # ? in it written %2F %40 %3A %23 %3F), got "
                f"{masked(url)!r} ({hidden(str(exc), url)})")
    return None
