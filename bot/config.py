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
from pathlib import Path
from typing import TYPE_CHECKING, Any
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
from bot.config_sections import (
    AlertmanagerSettings,
    DetectionSettings,
    IncidentsSettings,
    LeaderSettings,
    MetricsSettings,
    ServerSettings,
    SlackSettings,
    StorageSettings,
)
from bot.digests.settings import DigestSettings
from bot.incidents.policies import OnCallSettings, PagerDutySettings
from bot.validation import field_path

if TYPE_CHECKING:
    from pydantic_settings import BaseSettings

# The sections live in ``bot.config_sections``; their importers keep importing them from here.
__all__ = [
    "AlertmanagerSettings", "ConfigError", "DetectionSettings", "IncidentsSettings",
    "LeaderSettings", "MetricsSettings", "ServerSettings", "Settings", "SlackSettings",
    "StorageSettings", "environment_sets_settings", "format_validation_error", "load_settings",
    "resolve_config_path", "secret_keys",
]

DEFAULT_FILE = Path("perfbot.yaml")


class ConfigError(Exception):
    """A configuration that cannot be used; ``str()`` is the message for the person."""


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
