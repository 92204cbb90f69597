"""A trigger's schedule: duration text, or a cron expression in a time zone.

A trigger row holds one schedule. An interval row has duration text in
``interval`` (see `parse_interval`) and NULL ``cron`` and ``timezone``. A
calendar row has a cron expression in ``cron`` (`CronSchedule`'s grammar),
an IANA zone name in ``timezone`` (NULL reads as UTC) and the empty string
in ``interval``, the tables' NOT NULL column holding nothing.

A calendar trigger's windows are its schedule's fire times, named by their
start in microseconds (`CalendarGrid`). Triggers use `CronSchedule`'s
default policies, with no jitter: a time in a spring-forward gap fires at
the change, a time in a fall-back fold fires once, at its first instant.
The row has no room for other policies; these are the ones under which a
daily job fires exactly once per local day.

Pure: no trio, no clock.
"""

from __future__ import annotations

from typing import Final, cast

from tickwork._cron import CalendarGrid, CronSchedule
from tickwork._errors import InvalidConfigError, WrongTypeError
from tickwork._text import brief, cut
from tickwork.triggers._model import parse_interval

DEFAULT_TIMEZONE: Final = "UTC"
"""The zone of a cron trigger added without one (and of a row whose
``timezone`` is NULL)."""
_EXPRESSION: Final = "'expression' "


def is_cron_text(text: str) -> bool:
    """Whether command-line schedule text means a cron expression.

    Duration text never holds white space, ``*`` or a leading ``@``; text
    that does is read as cron, so a cron expression with a wrong number of
    fields is refused by the cron grammar, which says what it expects,
    rather than by the duration grammar.
    """
    return text.startswith("@") or "*" in text or any(c.isspace() for c in text)


def calendar_grid(cron: object, timezone: object) -> CalendarGrid:
    """The windows of a calendar trigger's *cron* read in *timezone*.

    *timezone* None means UTC. Each error message names the field of the
    row that is wrong, ``'cron'`` or ``'timezone'``, and shows its value
    cut to 200 characters.

    Raises:
        InvalidConfigError: *cron* is not a valid expression (or never
            matches), or *timezone* is not a known zone (a `ValueError`).
        WrongTypeError: either is not a str (a `TypeError`).
    """
    if not isinstance(cron, str):
        msg = (
            f"'cron' must be a cron expression such as '0 3 * * *' (got {brief(cron)})"
        )
        raise WrongTypeError(msg)
    zone = DEFAULT_TIMEZONE if timezone is None else timezone
    if not isinstance(zone, str):
        msg = (
            "'timezone' must be an IANA zone name such as 'Europe/Berlin' "
            f"(got {brief(zone)})"
        )
        raise WrongTypeError(msg)
    try:
        schedule = CronSchedule(cron, timezone=zone)
    except InvalidConfigError as exc:
        text = str(exc)
        if text.startswith(_EXPRESSION):  # the schedule's field is the row's cron
            msg = f"'cron' {text[len(_EXPRESSION) :]}"
            raise InvalidConfigError(msg) from None
        raise
    except ValueError as exc:
        # Not the parser's own refusal: int() of a number of thousands of
        # digits, say. Still the expression's fault, and still named so.
        msg = f"'cron' does not parse: {cut(str(exc))} (got {brief(cron)})"
        raise InvalidConfigError(msg) from None
    return CalendarGrid(schedule)


def check_schedule(
    interval: object, cron: object, timezone: object
) -> tuple[str, str | None, str | None]:
    """Check a new trigger's schedule; the ``interval, cron, timezone`` to store.

    Exactly one of *interval* and *cron* is given (not None). A cron
    schedule's zone defaults to UTC, and is stored; *timezone* with an
    interval is refused, as it would be ignored.

    Raises:
        InvalidConfigError: both or neither schedule, a *timezone* with an
            interval, or a bad value (see `parse_interval`, `calendar_grid`).
        WrongTypeError: a value of the wrong type.
    """
    if cron is None:
        if interval is None:
            msg = (
                "a trigger needs a schedule: 'interval' (duration text such as "
                "'15m') or 'cron' (an expression such as '0 3 * * *'); got neither"
            )
            raise InvalidConfigError(msg)
        if timezone is not None:
            msg = (
                "'timezone' applies to a 'cron' schedule only, not to an "
                f"interval (got timezone {brief(timezone)} with interval "
                f"{brief(interval)})"
            )
            raise InvalidConfigError(msg)
        text = cast("str", interval)  # parse_interval checks the type
        parse_interval(text)
        return text, None, None
    if interval is not None:
        msg = (
            "'interval' and 'cron' must not both be set: a trigger has one "
            f"schedule (got interval {brief(interval)} and cron {brief(cron)})"
        )
        raise InvalidConfigError(msg)
    zone = DEFAULT_TIMEZONE if timezone is None else timezone
    calendar_grid(cron, zone)  # it checks the types
    return "", cast("str", cron), cast("str", zone)
