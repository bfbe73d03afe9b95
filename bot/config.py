"""Settings: one YAML file plus ``PERFBOT_*`` environment variables, validated at the boundary.

Where the file comes from: ``--config PATH``, else ``$PERFBOT_CONFIG``, else ``./perfbot.yaml``,
else the built-in defaults (demo metrics, SQLite, no Slack). Secrets (Slack tokens, the
Prometheus password) are read from the environment only, never from the file.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.analytics.prices import CostSettings
from bot.catalog.settings import CatalogSettings
from bot.db_url import hidden, masked, parse_url
from bot.digests.settings import DigestSettings
from bot.durations import Duration, format_duration, parse_duration
from bot.incidents.policies import OnCallSettings, PagerDutySettings
from bot.metrics.settings import MetricNames, PrometheusSettings, SaturationMetrics
from bot.validation import field_path

if TYPE_CHECKING:
    from pydantic_settings import BaseSettings

DEFAULT_FILE = Path("perfbot.yaml")


class ConfigError(Exception):
    """A configuration that cannot be used; ``str()`` is the message for the person."""


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


class Settings(BaseModel):
    """Everything perfbot reads from its file and environment (``_environment``)."""

    # BaseSettings' own configuration (see ``_environment`` for why it is not one).
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True,
                              validate_default=True)

    timezone: str = "UTC"
    """IANA time zone of "today", "yesterday" and the times in messages."""
    metrics: MetricsSettings = MetricsSettings()
    """Where metrics come from and how they are named."""
    catalog: CatalogSettings = CatalogSettings()
    """What people add to the discovered endpoints: owners, channels, aliases, SLOs, exclusions."""
    cost: CostSettings = CostSettings()
    """Where cost figures come from, and the price table used without OpenCost."""
    storage: StorageSettings = StorageSettings()
    """The bot's database: incidents, audit, outbox, deliveries."""
    detection: DetectionSettings = DetectionSettings()
    """The running bot's detection cycle."""
    # Which replica runs the loop, and how soon another takes over (PostgreSQL only).
    leader: LeaderSettings = LeaderSettings()
    """Which replica runs the loop, and how soon another takes over (PostgreSQL only)."""
    incidents: IncidentsSettings = IncidentsSettings()
    """Where incidents are posted and how they are grouped."""
    # On-call schedules, escalation policies and the routes from alerts to policies.
    oncall: OnCallSettings = OnCallSettings()
    """On-call schedules, escalation policies and the routes from alerts to policies."""
    # Where PagerDuty steps send their events (routing keys: environment variables named by
    # each step's ``notify_pagerduty.routing_key_env``).
    pagerduty: PagerDutySettings = PagerDutySettings()
    """Where PagerDuty steps send their events (routing keys: environment variables named by each
    step)."""
    # How long a webhook step waits for its receiver, in seconds.
    webhook_timeout: float = Field(default=10.0, gt=0, le=60)
    """Seconds a policy step's webhook waits for its receiver."""
    # Scheduled digests: configured schedules, grace, saturation thresholds, SLO window.
    digests: DigestSettings = DigestSettings()
    """Scheduled digests: schedules, grace, saturation thresholds, SLO window."""
    slack: SlackSettings = SlackSettings()
    """Who may act on incidents from Slack, and how many questions are worked on at once."""
    server: ServerSettings = ServerSettings()
    """The operational HTTP port `perfbot run` serves."""
    alertmanager: AlertmanagerSettings = AlertmanagerSettings()
    """Alertmanager's API, for silences of its incidents."""
    # Unset: ./playbooks, else the playbooks installed with perfbot (see default_playbooks_dir).
    playbooks_dir: Path = Field(default_factory=lambda: default_playbooks_dir())
    """Folder of playbook YAML files; unset: ./playbooks, else the playbooks installed with
    perfbot."""

    # Secrets: environment only (see ``load_settings``), under the names Slack's tools use.
    slack_bot_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_BOT_TOKEN", "slack_bot_token")
    )
    """Slack's Bot User OAuth Token (xoxb-…). Environment only: SLACK_BOT_TOKEN."""
    slack_app_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_APP_TOKEN", "slack_app_token")
    )
    """Slack's app-level token for Socket Mode (xapp-…). Environment only: SLACK_APP_TOKEN."""
    slack_signing_secret: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("SLACK_SIGNING_SECRET", "slack_signing_secret"),
    )
    """Slack's signing secret, for HTTP mode. Environment only: SLACK_SIGNING_SECRET."""
    prometheus_password: SecretStr | None = None
    """Basic-auth password of metrics.prometheus.username. Environment only."""
    # Alertmanager's bearer token for POST /alertmanager (PERFBOT_ALERTMANAGER_TOKEN).
    alertmanager_token: SecretStr | None = None
    """The bearer token Alertmanager sends to POST /alertmanager. Environment only."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"expected an IANA time zone like 'Europe/Berlin', got {value!r}"
            ) from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @model_validator(mode="before")
    @classmethod
    def _environment(cls, data: Any) -> Any:
        """The environment overrides the file, which arrives as the arguments: ``PERFBOT_*``
        (``__`` between nested names, any case, JSON for lists and mappings) and the Slack
        secrets under Slack's names, exactly as pydantic-settings' ``BaseSettings`` read them.
        pydantic-settings itself reads them, imported only when such a variable is set: its
        import is about 0.15 s of every command's start-up (issue 13, "Fast commands")."""
        if not isinstance(data, dict) or not environment_sets_settings(os.environ):
            return data
        return _deep_update(data, _environment_values())


ENV_PREFIX = "PERFBOT_"
# Variables that set no field: BaseSettings ignored them too.
_NOT_SETTINGS = frozenset({"perfbot_config"})
_SECRET_ALIASES = frozenset({"slack_bot_token", "slack_app_token", "slack_signing_secret"})


def environment_sets_settings(environ: Mapping[str, str]) -> bool:
    """Whether a variable may set a field: a ``PERFBOT_*`` one or a Slack secret's."""
    names = {name.lower() for name in environ}
    return bool(names & _SECRET_ALIASES) or any(
        name.startswith(ENV_PREFIX.lower()) and name not in _NOT_SETTINGS for name in names)


def _environment_values() -> dict[str, Any]:
    from pydantic_settings import EnvSettingsSource

    return dict(EnvSettingsSource(_environment_model(), case_sensitive=False,
                                  env_prefix=ENV_PREFIX, env_nested_delimiter="__")())


@functools.cache
def _environment_model() -> type[BaseSettings]:
    """A ``BaseSettings`` with the fields of ``Settings``: what pydantic-settings reads."""
    from pydantic import create_model
    from pydantic_settings import BaseSettings

    fields: dict[str, Any] = {name: (field.annotation, field)
                              for name, field in Settings.model_fields.items()}
    return create_model("SettingsFromEnvironment", __base__=BaseSettings, **fields)


def _deep_update(base: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``update``'s values, mappings merged key by key (as BaseSettings did)."""
    merged = dict(base)
    for key, value in update.items():
        if isinstance(merged.get(key), dict) and isinstance(value, dict):
            merged[key] = _deep_update(merged[key], value)
        else:
            merged[key] = value
    return merged


def default_playbooks_dir() -> Path:
    """``./playbooks`` when there is one; else the playbooks installed with the package
    (``<prefix>/share/perfbot/playbooks``) or those of the source checkout it runs from."""
    candidates = (
        Path("playbooks"),
        Path(sys.prefix) / "share" / "perfbot" / "playbooks",
        Path(__file__).resolve().parents[1] / "playbooks",
    )
    return next((path for path in candidates if path.is_dir()), candidates[0])


SECRET_FIELDS = (
    "slack_bot_token",
    "slack_app_token",
    "slack_signing_secret",
    "prometheus_password",
    # A policy step's PagerDuty routing key and webhook URL and secret: the step names the
    # environment variable that holds each (``_NAMED_IN``).
    "notify_pagerduty_routing_key",
    "notify_webhook_url",
    "notify_webhook_secret",
    "alertmanager_token",
)
_NAMED_IN = {"notify_pagerduty_routing_key": "routing_key_env",
             "notify_webhook_url": "url_env", "notify_webhook_secret": "secret_env"}


def resolve_config_path(
    explicit: str | Path | None, environ: Mapping[str, str] | None = None
) -> Path | None:
    """Which file to read: explicit path, ``$PERFBOT_CONFIG``, ``./perfbot.yaml``, or none."""
    env = os.environ if environ is None else environ
    if explicit:
        return Path(explicit)
    if env.get("PERFBOT_CONFIG"):
        return Path(env["PERFBOT_CONFIG"])
    return DEFAULT_FILE if DEFAULT_FILE.exists() else None


def load_settings(path: str | Path | None = None) -> Settings:
    """Read and validate the settings; a bad file raises ConfigError naming file and field."""
    source = resolve_config_path(path)
    data = _read_yaml(source) if source else {}
    leaked = next(secret_keys(data), None)
    if leaked is not None:
        where, field = leaked
        raise ConfigError(
            f"{source}: {where}: secrets are read from the environment only "
            f"(set {_secret_env_name(field)}), remove it from the file"
        )
    folder = data.get("playbooks_dir")
    if source and isinstance(folder, str) and not Path(folder).is_absolute():
        # A relative folder in a settings file means relative to that file.
        data["playbooks_dir"] = str(source.parent / folder)
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None


def secret_keys(data: object, path: tuple[str, ...] = ()) -> Iterator[tuple[str, str]]:
    """Where ``data`` (a settings file) holds a secret, whatever the key's case or how
    deep (``SLACK_BOT_TOKEN``, ``slack: {bot_token: …}``, ``prometheus: {password: …}``):
    the key's dotted path, and the secret's field."""
    items: list[tuple[str, object]] = []
    if isinstance(data, dict):
        items = [(str(key), value) for key, value in data.items()]
    elif isinstance(data, list):
        items = [(str(index), value) for index, value in enumerate(data)]
    for key, value in items:
        here = (*path, key)
        field = _secret_field(key, path[-1] if path else "")
        if field is not None:
            yield ".".join(here), field
        yield from secret_keys(value, here)


def _secret_field(key: str, parent: str) -> str | None:
    def plain(name: str) -> str:
        return name.strip().lower().replace("-", "_").removeprefix("perfbot_")
    name = plain(key)
    for candidate in (name, f"{plain(parent)}_{name}" if parent else name):
        if candidate in SECRET_FIELDS:
            return candidate
    return None


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


def _secret_env_name(field: str) -> str:
    if field in _NAMED_IN:
        return f"an environment variable and name it in {_NAMED_IN[field]}"
    return field.upper() if field.startswith("slack_") else f"PERFBOT_{field.upper()}"


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read it ({exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}{where}: not valid YAML: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top, got {_kind(data)}")
    return data


def _kind(value: object) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__
    )


def format_validation_error(exc: ValidationError, source: Path | None) -> str:
    """One line per problem: ``file: detection.interval: expected ..., got 'soon'``."""
    where = str(source) if source else "settings"
    lines = []
    for error in exc.errors():
        path = field_path(error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown setting (check the spelling against perfbot.example.yaml)"
        elif error["type"] == "missing":
            message = "required setting is missing"
        elif "got" not in message:
            message = f"{message[0].lower()}{message[1:]}, got {error.get('input')!r}"
        lines.append(f"{where}: {path}: {message}")
    return "\n".join(lines)
