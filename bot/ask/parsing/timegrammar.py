"""The grammar of time expressions: words and regular expressions, and readers of the pieces.

The pieces are a number ("two"), a unit ("hrs"), a clock time ("2pm"), a day ("last monday",
"nov 20") and a day with a time; each reader resolves its piece against the asker's ``Clock``
and raises ``BadTime`` (a message for the person) for an impossible or future one. The
patterns at the end are tried by ``timeexpr.PATTERNS``, which turns their matches into windows.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta

from bot.ask.timerange import BadTime, Clock, at_time, midnight_of, moment_label

_NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
    "fifteen": 15, "twenty": 20, "thirty": 30, "couple of": 2, "couple": 2,
}  # fmt: skip
NUM = r"(?:\d{1,4}|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|(?:a )?couple(?: of)?)"  # noqa: E501
UNIT = r"(?:minutes?|mins?|m|hours?|hrs?|h|days?|d|weeks?|wks?|w|months?|mos?)"
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAY_FULL = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
WEEKDAY_ANY = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tues?|weds?|thu(?:rs?)?|fri|sat|sun)"  # noqa: E501
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTH = r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"  # noqa: E501
MONTH_FULL = r"(?:january|february|march|april|june|july|august|september|october|november|december)"  # noqa: E501
_ISO_DATE = r"\d{4}-\d{1,2}-\d{1,2}"
_MONTH_DATE = (
    rf"(?:{_MONTH} \d{{1,2}}(?:st|nd|rd|th)?(?:,? \d{{4}})?"
    rf"|\d{{1,2}}(?:st|nd|rd|th)? (?:of )?{_MONTH}(?:,? \d{{4}})?)"
)
_DATE = rf"(?:{_ISO_DATE}|{_MONTH_DATE})"
_AT = r"(?:,? (?:at )?|(?<=\d)t)"  # "2026-11-20 14:00", "nov 20 at 2pm", "2026-11-20T14:00"
_DAY = rf"(?:today|yesterday|(?:(?:last|this|on) )?{WEEKDAY_ANY}|{_DATE})"
_CLOCK = r"(?:\d{1,2}(?::\d{2})? ?(?:am|pm)|\d{1,2}:\d{2}|noon|midnight)"
CLOCK_OR_HOUR = rf"(?:{_CLOCK}|\d{{1,2}})"
_DATETIME = rf"(?:{_DAY}(?:{_AT}{_CLOCK})?|{_CLOCK} (?:on )?{_DAY})"
_LEAD = r"(?:(?:in|over|during|for|within|from|of) )?(?:the )?"

FLAGS = re.IGNORECASE


def rx(pattern: str) -> re.Pattern[str]:
    """``pattern`` compiled to match whole words and paths only, case-insensitively."""
    return re.compile(rf"(?<![\w/])(?:{pattern})(?![\w/])", FLAGS)


def read_number(text: str) -> int | None:
    """``3``, ``three``, ``a couple of`` → the number; None for other words."""
    text = text.lower().strip()
    if text.isdigit():
        return int(text)
    return _NUMBER_WORDS.get(text.removeprefix("a ").strip())


def unit_letter(text: str) -> str:
    """The canonical unit letter: m, h, d, w or mo."""
    text = text.lower()
    if text.startswith("mo"):
        return "mo"
    if text.startswith(("mi", "m")):
        return "m"
    return text[0]


UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}
UNIT_WORDS = {"m": "minute", "h": "hour", "d": "day", "w": "week", "mo": "month"}


# --- parsing the pieces ------------------------------------------------------------------------


def parse_clock(text: str) -> tuple[time, bool] | None:
    """``"2pm"`` → (14:00, True); the flag says whether am/pm was given."""
    text = text.lower().replace(" ", "")
    if text == "noon":
        return time(12), True
    if text == "midnight":
        return time(0), True
    match = re.fullmatch(r"(\d{1,2})(?::(\d{2}))?(am|pm)?", text)
    if not match:
        return None
    hour, minute = int(match[1]), int(match[2] or 0)
    meridiem = match[3]
    if meridiem:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if meridiem == "pm" else 0)
    if hour == 24 and minute == 0:
        hour = 0
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute), meridiem is not None


def _weekday_index(word: str) -> int:
    word = word.lower()[:3]
    return [w[:3] for w in _WEEKDAYS].index(word)


def parse_day(text: str, ctx: Clock) -> date:
    """A day expression (see ``_DAY``) → the date; raises BadTime for impossible or future dates."""
    text = text.lower().strip()
    if text == "today":
        return ctx.today
    if text == "yesterday":
        return ctx.today - timedelta(days=1)
    words = text.split()
    if words[-1].rstrip(".")[:3] in [w[:3] for w in _WEEKDAYS] and not any(
        ch.isdigit() for ch in text
    ):
        target = _weekday_index(words[-1])
        back = (ctx.today.weekday() - target) % 7
        if words[0] in ("last", "since") and back == 0:
            back = 7
        return ctx.today - timedelta(days=back)
    iso = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", text)
    if iso:
        return _checked_date(int(iso[1]), int(iso[2]), int(iso[3]), ctx, text)
    return _parse_month_date(text, ctx)


def _parse_month_date(text: str, ctx: Clock) -> date:
    month_word = re.search(r"[a-z]{3,}", text.replace(" of ", " "))
    day_number = re.search(r"\b(\d{1,2})(?:st|nd|rd|th)?\b", text)
    year = re.search(r"\b(\d{4})\b", text)
    if not month_word or not day_number:
        raise BadTime(f"'{text}' is not a date I can read")
    month = MONTHS.index(month_word[0][:3]) + 1
    if year:
        return _checked_date(int(year[1]), month, int(day_number[1]), ctx, text)
    try:
        candidate = date(ctx.today.year, month, int(day_number[1]))
    except ValueError:
        raise BadTime(f"'{text}' is not a date") from None
    if candidate > ctx.today:
        try:
            candidate = candidate.replace(year=candidate.year - 1)
        except ValueError:
            raise BadTime(f"'{text}' is not a date last year") from None
    return candidate


def _checked_date(year: int, month: int, day: int, ctx: Clock, text: str) -> date:
    try:
        value = date(year, month, day)
    except ValueError:
        raise BadTime(f"'{text}' is not a date") from None
    if value > ctx.today:
        raise BadTime(f"{text} is in the future")
    return value


def parse_datetime(text: str, ctx: Clock) -> tuple[datetime, bool]:
    """A day and/or clock time → (moment, has_time)."""
    text = re.sub(r"(\d{4}-\d{1,2}-\d{1,2})t(?=\d)", r"\1 ", text.lower().strip())
    clock_match = re.search(rf"(?<![\w-]){_CLOCK}(?![\w-])", text)
    day_text = text
    clock: tuple[time, bool] | None = None
    if clock_match and not re.fullmatch(_DATE, text, FLAGS):
        clock = parse_clock(clock_match[0])
        if clock is None:
            raise BadTime(f"'{clock_match[0]}' is not a time of day")
        rest = (text[: clock_match.start()] + text[clock_match.end() :]).replace(",", " ")
        day_text = " ".join(w for w in rest.split() if w not in ("at", "on"))
    if not day_text:
        assert clock is not None
        moment = at_time(ctx.today, clock[0], ctx.tz)
        if moment > ctx.now:  # a time of day still ahead today: the asker means yesterday's
            moment = at_time(ctx.today - timedelta(days=1), clock[0], ctx.tz)
        return moment, True
    day = parse_day(day_text, ctx)
    if clock is None:
        return midnight_of(day, ctx.tz), False
    moment = at_time(day, clock[0], ctx.tz)
    if moment > ctx.now:
        raise BadTime(f"{moment_label(moment, ctx.today)} is in the future")
    return moment, True


# --- the patterns, tried in the order ``timeexpr.PATTERNS`` gives --------------------------

_RANGE_SIDE = rf"{CLOCK_OR_HOUR}|{_DATETIME}"  # a clock first, so "14:00 today" keeps its day
BETWEEN = (
    rf"(?:(?P<pre>{_DAY}),? )?(?:between|from) (?P<a>{_RANGE_SIDE}) "
    rf"(?:and|to|until|till|through|-) (?P<b>now|{_RANGE_SIDE})(?:,? (?:on )?(?P<post>{_DAY}))?"
)
DASHED = (
    rf"(?:(?P<pre>{_DAY}),? )?(?P<a>{_CLOCK}) ?(?:-|–|to) ?(?P<b>{_CLOCK})"
    rf"(?:,? (?:on )?(?P<post>{_DAY}))?"
)
SINCE = (
    rf"(?:ever )?since (?:the )?(?P<rest>(?:last|previous) (?:week|month)|{NUM} {UNIT} ago"
    rf"|{MONTH_FULL}|{_DATETIME}|{_CLOCK})"
)
FUTURE = (
    rf"(?:tomorrow|next (?:week|month|year|hour|day|{_WEEKDAY_FULL})"
    r"|in the (?:next|coming) \w+(?: \w+)?)"
)
AGO = rf"(?:from |since )?(?P<n>{NUM}) ?(?P<unit>{UNIT}) ago"
# "vs the same time yesterday", "vs yesterday same time", "same time last week": the window
# shifted back, whatever its span.
SAME_TIME = (
    r"(?:the )?same (?:time|hours?|period|window) (?:(?:of |on )?(?P<a>yesterday|last week|a week ago|a day ago)|the (?P<b>day|week) before)"  # noqa: E501
    r"|(?P<c>yesterday|last week|a week ago|a day ago),? (?:at )?(?:the )?same (?:time|hours?|period|window)"  # noqa: E501
)
BEFORE = (
    rf"(?:the )?(?P<n>{NUM}) {UNIT} before"
    r"|(?:the )?(?:previous|prior|preceding) (?P<unit>period|window)"
    r"|(?:the )?(?P<unit2>week|day|month) before|before that"
)
_WEEKDAY_REF = rf"(?:(?:last |this )?{_WEEKDAY_FULL}|(?:last|this|on) {WEEKDAY_ANY})"
MOMENT = (
    rf"(?:(?:on|at|of) )?(?P<when>{_DATE}(?:{_AT}{_CLOCK})?"
    rf"|(?:today|yesterday|{_WEEKDAY_REF}),? at {_CLOCK}"
    rf"|{_CLOCK} (?:on )?(?:today|yesterday|{_WEEKDAY_REF}|{_DATE})"
    rf"|{_WEEKDAY_REF}|at {_CLOCK}|(?<=after ){_CLOCK})"
)
NAMED = (
    r"(?:(?:in|over|during|for|from) )?(?:the )?(?P<name>right now|at the moment|at present"
    r"|currently|atm|(?:so far )?today(?: so far)?|yesterday"
    r"|(?:this|last|previous|prior) (?:week|month)|(?:this|last|the) weekend"
    r"|this (?:morning|afternoon|evening)|last night|overnight|now)"
)
LAST_N = (
    rf"{_LEAD}(?P<which>last|past|previous|prior|recent|most recent) "
    rf"(?:(?P<n>{NUM}) ?)?(?P<unit>{UNIT})"
)
IN_MONTH = rf"(?:in|during) (?P<month>{MONTH_FULL})"
BARE_SPAN = rf"(?:(?:in|over|for|within|during) )?(?:the )?(?P<n>\d{{1,4}}) ?(?P<unit>{UNIT})"
