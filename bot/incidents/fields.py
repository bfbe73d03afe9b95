"""The field types of the on-call settings (user ids, zones, clock times, weekdays) and how
their errors are reported with field paths."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationError,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_NAMES = {name: day for day, name in zip(DAYS, ("monday", "tuesday", "wednesday",
                                                     "thursday", "friday", "saturday",
                                                     "sunday"), strict=True)}


# --- field types -------------------------------------------------------------------------

def _user_id(value: str) -> str:
    # Names ("@alice") change and are ambiguous; Slack's ids do not.
    if not (value[:1] in ("U", "W") and value[1:].isalnum() and value.isupper()):
        raise ValueError(f"expected a Slack user id like 'U024BE7LH', got {value!r} (Slack "
                         "shows it in the profile's \"Copy member ID\" menu)")
    return value


def _known_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"expected an IANA time zone like 'Europe/Berlin', got {value!r}"
        ) from None
    return value


def _clock_time(value: Any) -> Any:
    # YAML 1.1 reads an unquoted 17:30 as the base-60 number 1050; read it back as 17:30.
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value < 24 * 60:
            return time(value // 60, value % 60)
        raise ValueError(f"expected a time of day like '09:00', got {value!r}")
    return value


def _naive_clock_time(value: time) -> time:
    if value.tzinfo is not None:
        raise ValueError(f"expected a local time of day without an offset like '09:00', "
                         f"got '{value.isoformat()}' (the zone is the time_zone setting)")
    return value


def _local_datetime(value: Any) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime.combine(value, time())
    if isinstance(value, str) and len(value.strip()) == 10:  # "2026-01-05"
        try:
            return datetime.combine(date.fromisoformat(value.strip()), time())
        except ValueError:
            return value
    return value


def _naive_datetime(value: datetime) -> datetime:
    if value.tzinfo is not None:
        raise ValueError(f"expected a local date and time without an offset like "
                         f"'2026-01-05 09:00', got '{value.isoformat()}' (the zone is the "
                         "time_zone setting)")
    return value


def _weekday(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip().lower()
        return _DAY_NAMES.get(text, text)
    return value


UserId = Annotated[str, AfterValidator(_user_id)]
TimeZoneName = Annotated[str, AfterValidator(_known_zone)]
ClockTime = Annotated[time, BeforeValidator(_clock_time), AfterValidator(_naive_clock_time)]
LocalDateTime = Annotated[
    datetime, BeforeValidator(_local_datetime), AfterValidator(_naive_datetime)
]
Day = Annotated[Weekday, BeforeValidator(_weekday)]


class Frozen(BaseModel):
    """Settings and snapshots: unknown keys refused, nothing changes after validation."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def problem(loc: tuple[str | int, ...], value: Any, message: str) -> InitErrorDetails:
    """One error at ``loc`` (relative to the model being validated) for ``field_errors``."""
    error = PydanticCustomError("invalid_setting", "{message}", {"message": message})
    return InitErrorDetails(type=error, loc=loc, input=value)


def field_errors(model: type[BaseModel], problems: list[InitErrorDetails]) -> ValidationError:
    """Errors a model validator finds, each at its own field: raised from a validator,
    pydantic puts the model's own place in front (``layers[0].end``), like any field error."""
    return ValidationError.from_exception_data(model.__name__, problems)


def not_empty(value: tuple[Any, ...], what: str) -> tuple[Any, ...]:
    if not value:
        raise ValueError(f"expected at least one {what}, got none")
    return value
