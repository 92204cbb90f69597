"""CronFields: the five fields of a cron expression, parsed and matched in wall time.

The syntax is Vixie cron's (``man 5 crontab``): ``minute hour day-of-month
month day-of-week``, each field a comma list of ``*``, ``N``, ``A-B``, any of
those with a ``/STEP``, and ``N/STEP`` for "N to the field's end"; month names
JAN-DEC and weekday names SUN-SAT in any case; day-of-week 0 and 7 are both
Sunday; the macros ``@hourly``, ``@daily`` (``@midnight``), ``@weekly``,
``@monthly`` and ``@yearly`` (``@annually``). Day-of-month and day-of-week
combine as in Vixie cron: when both are restricted (neither field starts with
``*``) a day matches if *either* does, otherwise it must match both.

`CronFields.next_wall` jumps field by field (month, day, hour, minute), never
minute by minute, so a leap-day expression costs a few steps per year it
skips. An expression that can never match (``0 0 31 2 *``) is refused when
parsed instead of searched for ever.

Pure: no zone, no clock. Wall times are naive datetimes on whole minutes.
"""

from __future__ import annotations

import calendar
import datetime as dt
from bisect import bisect_left
from typing import Final, NamedTuple, final

import attrs

from tickwork._errors import InvalidConfigError
from tickwork._text import brief

LAST_YEAR: Final = 9998
"""The last local year searched: `datetime` ends in 9999, and a zone offset
of up to a day must still fit when a wall time becomes an instant."""

MACROS: Final = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

_MONTH_NAMES: Final = {
    name.lower(): number for number, name in enumerate(calendar.month_abbr) if name
}
_DAY_NAMES: Final = {
    name: number
    for number, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))
}
# The most days each month ever has (February: 29).
_MAX_DAYS: Final = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


class _Field(NamedTuple):
    name: str
    low: int
    high: int
    names: dict[str, int]
    rule: str


_FIELD_RULES: Final = (
    _Field("minute", 0, 59, {}, "0-59"),
    _Field("hour", 0, 23, {}, "0-23"),
    _Field("day-of-month", 1, 31, {}, "1-31"),
    _Field("month", 1, 12, _MONTH_NAMES, "1-12 or JAN-DEC"),
    _Field("day-of-week", 0, 7, _DAY_NAMES, "0-7 or SUN-SAT"),
)


def _fail(field: _Field, rule: str, part: str) -> InvalidConfigError:
    msg = f"'expression' field {field.name!r} {rule} (got {brief(part)})"
    return InvalidConfigError(msg)


def _value(field: _Field, text: str, part: str) -> int:
    """One number or name of *field*, within its range."""
    lowered = text.lower()
    if lowered in field.names:
        return field.names[lowered]
    # isdigit() alone would accept other scripts' digits, which int() reads.
    # Past 4 digits no number is in range: refused before int() reads it
    # (int() refuses thousands of digits with a ValueError of its own).
    if not (text.isascii() and text.isdigit()) or len(text.lstrip("0")) > 4:
        raise _fail(field, f"must be {field.rule}", part)
    number = int(text)
    if not field.low <= number <= field.high:
        raise _fail(field, f"must be {field.rule}", part)
    return number


def _parse_field(field: _Field, text: str) -> tuple[int, ...]:
    """The sorted values one field allows."""
    # An open end (``*``, ``N/STEP``) stops at Saturday: ``1/2`` is MON,WED,FRI.
    top = 6 if field.name == "day-of-week" else field.high
    values: set[int] = set()
    for part in text.split(","):
        body, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not (step_text.isascii() and step_text.isdigit()):
                raise _fail(field, "step must be a whole number >= 1", part)
            # A step past every range keeps only the first value; int() is
            # not asked to read thousands of digits.
            digits = step_text.lstrip("0") or "0"
            step = int(digits) if len(digits) <= 4 else 10_000
            if step < 1:
                raise _fail(field, "step must be a whole number >= 1", part)
        if body == "*":
            low, high = field.low, top
        elif "-" in body:
            first, _, last = body.partition("-")
            low, high = _value(field, first, part), _value(field, last, part)
        else:
            low = _value(field, body, part)
            high = top if slash else low
        if low > high:
            raise _fail(field, "range must not run backwards", part)
        values.update(range(low, high + 1, step))
    if field.name == "day-of-week" and 7 in values:
        values.discard(7)
        values.add(0)
    return tuple(sorted(values))


@final
@attrs.frozen
class CronFields:
    """A parsed cron expression: the values each field allows.

    Build one with `parse`. Weekdays count from Sunday = 0.
    """

    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: tuple[int, ...]
    months: tuple[int, ...]
    weekdays: tuple[int, ...]
    either_day: bool
    """True when both day fields are restricted: a day matches if either does."""
    _minute_set: frozenset[int] = attrs.field(init=False, repr=False, eq=False)
    _hour_set: frozenset[int] = attrs.field(init=False, repr=False, eq=False)
    _day_set: frozenset[int] = attrs.field(init=False, repr=False, eq=False)
    _weekday_set: frozenset[int] = attrs.field(init=False, repr=False, eq=False)
    _any_weekday: bool = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_minute_set", frozenset(self.minutes))
        object.__setattr__(self, "_hour_set", frozenset(self.hours))
        object.__setattr__(self, "_day_set", frozenset(self.days))
        object.__setattr__(self, "_weekday_set", frozenset(self.weekdays))
        # Only the day-of-month counts: the weekday can neither add nor refuse.
        object.__setattr__(
            self, "_any_weekday", len(self.weekdays) == 7 and not self.either_day
        )

    @classmethod
    def parse(cls, expression: str) -> CronFields:
        """Parse a 5-field expression or an ``@`` macro.

        Raises:
            InvalidConfigError: the message names the field and the offending
                part, or says why the expression can never match.
        """
        text = MACROS.get(expression.strip().lower(), expression)
        if text.strip().startswith("@"):
            macros = ", ".join(sorted(MACROS))
            msg = (
                f"'expression' macro must be one of {macros} (got {brief(expression)})"
            )
            raise InvalidConfigError(msg)
        parts = text.split()
        if len(parts) != len(_FIELD_RULES):
            msg = (
                "'expression' must have 5 fields: minute hour day-of-month month "
                f"day-of-week, or be an @ macro (got {brief(expression)})"
            )
            raise InvalidConfigError(msg)
        minutes, hours, days, months, weekdays = (
            _parse_field(spec, part)
            for spec, part in zip(_FIELD_RULES, parts, strict=True)
        )
        fields = cls(
            minutes=minutes,
            hours=hours,
            days=days,
            months=months,
            weekdays=weekdays,
            either_day=not (parts[2].startswith("*") or parts[4].startswith("*")),
        )
        # Every valid date falls on every weekday within 28 years (Feb 29 too),
        # so only the day-of-month against the months can rule out every day.
        if not fields.either_day and not any(days[0] <= _MAX_DAYS[m] for m in months):
            msg = (
                "'expression' fields 'day-of-month' and 'month' never match: "
                f"no allowed month has a day {days[0]} (got {brief(expression)})"
            )
            raise InvalidConfigError(msg)
        return fields

    def matches(self, wall: dt.datetime) -> bool:
        """Whether a wall time matches: its minute, with seconds 0."""
        return (
            wall.second == 0
            and wall.microsecond == 0
            and wall.minute in self._minute_set
            and wall.hour in self._hour_set
            and wall.month in self.months
            and self._next_day(wall.year, wall.month, wall.day) == wall.day
        )

    def next_wall(self, start: dt.datetime) -> dt.datetime | None:
        """The first matching wall time at or after *start*, a whole minute.

        Jumps to the next allowed month, day, hour and minute in turn, so the
        cost is a few steps per month it passes. None past `LAST_YEAR`.
        Seconds in *start* are ignored: pass a whole minute.
        """
        year, month, day = start.year, start.month, start.day
        hour, minute = start.hour, start.minute
        months, hours, minutes = self.months, self.hours, self.minutes
        while year <= LAST_YEAR:
            if month not in months:
                index = bisect_left(months, month)
                if index == len(months):
                    year, month = year + 1, months[0]
                else:
                    month = months[index]
                day, hour, minute = 1, 0, 0
                continue
            found = self._next_day(year, month, day)
            if found is None:
                year, month = (year + 1, 1) if month == 12 else (year, month + 1)
                day, hour, minute = 1, 0, 0
                continue
            if found != day:
                day, hour, minute = found, 0, 0
            if hour not in self._hour_set:
                index = bisect_left(hours, hour)
                if index == len(hours):
                    day, hour, minute = day + 1, 0, 0
                    continue
                hour, minute = hours[index], 0
            if minute not in self._minute_set:
                index = bisect_left(minutes, minute)
                if index == len(minutes):
                    hour, minute = hour + 1, 0
                    continue
                minute = minutes[index]
            return dt.datetime(year, month, day, hour, minute)  # noqa: DTZ001 - a wall time
        return None

    def _next_day(self, year: int, month: int, day: int) -> int | None:
        """The first allowed day >= *day* in the month, or None."""
        last = _MAX_DAYS[month]
        if month == 2 and not calendar.isleap(year):
            last = 28
        if self._any_weekday:
            index = bisect_left(self.days, day)
            if index < len(self.days) and self.days[index] <= last:
                return self.days[index]
            return None
        weekday = (dt.date(year, month, day).weekday() + 1) % 7 if day <= last else 0
        for candidate in range(day, last + 1):
            in_days = candidate in self._day_set
            in_weekdays = weekday in self._weekday_set
            if (in_days or in_weekdays) if self.either_day else in_days and in_weekdays:
                return candidate
            weekday = (weekday + 1) % 7
        return None
