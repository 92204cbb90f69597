"""A trigger's schedule: cron text told from duration text, checked by field."""

from __future__ import annotations

import pytest

from tickwork import InvalidConfigError, WrongTypeError
from tickwork.triggers._calendar import calendar_grid, check_schedule, is_cron_text


@pytest.mark.parametrize(
    ("text", "cron"),
    [
        ("0 3 * * *", True),
        ("@daily", True),
        ("*", True),
        ("0 3 * *", True),  # four fields: the cron grammar says what it expects
        ("0\t3 * * *", True),
        ("15m", False),
        ("1h30m", False),
        ("-5m", False),
        ("15", False),
        ("", False),
    ],
)
def test_cron_text_has_a_space_a_star_or_a_leading_at(text: str, cron: bool) -> None:  # noqa: FBT001 - a parameter
    """Duration text never holds white space, * or a leading @; cron text does."""
    assert is_cron_text(text) is cron


def test_a_grid_is_the_schedule_read_in_its_zone() -> None:
    """calendar_grid reads the expression in the zone; None is UTC."""
    berlin = calendar_grid("30 2 * * *", "Europe/Berlin")
    assert berlin.schedule.timezone == "Europe/Berlin"
    assert berlin.schedule.on_gap == "shift"
    assert berlin.schedule.on_fold == "first"
    assert berlin.schedule.jitter == 0
    assert calendar_grid("@daily", None).schedule.timezone == "UTC"


@pytest.mark.parametrize(
    ("cron", "zone", "error", "message"),
    [
        (
            "61 * * * *",
            "UTC",
            InvalidConfigError,
            "'cron' field 'minute' must be 0-59 \\(got '61'\\)",
        ),
        ("0 3 * *", "UTC", InvalidConfigError, "'cron' must have 5 fields"),
        (
            "0 0 31 2 *",
            "UTC",
            InvalidConfigError,
            "'cron' fields 'day-of-month' and 'month' never match",
        ),
        ("@often", "UTC", InvalidConfigError, "'cron' macro must be one of"),
        (
            "0 3 * * *",
            "Mars/Base",
            InvalidConfigError,
            "'timezone' must be an IANA zone name",
        ),
        ("0 3 * * *", "", InvalidConfigError, "'timezone' must be an IANA zone name"),
        (
            b"0 3 * * *",
            "UTC",
            WrongTypeError,
            "'cron' must be a cron expression such as '0 3 \\* \\* \\*' \\(got b'0 3",
        ),
        (
            "0 3 * * *",
            1,
            WrongTypeError,
            "'timezone' must be an IANA zone name such as 'Europe/Berlin' \\(got 1\\)",
        ),
    ],
)
def test_a_bad_schedule_is_refused_naming_the_field(
    cron: object, zone: object, error: type[Exception], message: str
) -> None:
    """Each error names the row's field, 'cron' or 'timezone', and its value."""
    with pytest.raises(error, match=message):
        calendar_grid(cron, zone)


@pytest.mark.parametrize("field", ["x" * 5000, "9" * 5000])
def test_messages_cut_a_long_value(field: str) -> None:
    """A huge field is refused by name and shown cut, even one int() cannot read."""
    with pytest.raises(InvalidConfigError, match=r"^'cron' ") as raised:
        calendar_grid(f"{field} * * * *", "UTC")
    assert "…" in str(raised.value)
    assert len(str(raised.value)) < 700


def test_check_schedule_answers_what_to_store() -> None:
    """An interval is stored as given; a cron row gets '' and its zone spelled out."""
    assert check_schedule("15m", None, None) == ("15m", None, None)
    assert check_schedule(None, "0 3 * * *", None) == ("", "0 3 * * *", "UTC")
    assert check_schedule(None, "@hourly", "Asia/Tokyo") == (
        "",
        "@hourly",
        "Asia/Tokyo",
    )


@pytest.mark.parametrize(
    ("interval", "cron", "zone", "error", "message"),
    [
        (
            None,
            None,
            None,
            InvalidConfigError,
            "a trigger needs a schedule: 'interval'",
        ),
        (
            "15m",
            "0 3 * * *",
            None,
            InvalidConfigError,
            "'interval' and 'cron' must not both be set",
        ),
        (
            "15m",
            None,
            "Europe/Berlin",
            InvalidConfigError,
            "'timezone' applies to a 'cron' schedule only",
        ),
        ("15", None, None, InvalidConfigError, "'interval' must be"),
        (900, None, None, WrongTypeError, "'interval'"),
        (
            None,
            "0 25 * * *",
            None,
            InvalidConfigError,
            "'cron' field 'hour' must be 0-23",
        ),
        (None, "0 3 * * *", "Nowhere", InvalidConfigError, "'timezone'"),
    ],
)
def test_check_schedule_refuses_both_neither_and_bad_values(
    interval: object, cron: object, zone: object, error: type[Exception], message: str
) -> None:
    """Exactly one schedule, a zone only with cron, each value valid."""
    with pytest.raises(error, match=message):
        check_schedule(interval, cron, zone)
