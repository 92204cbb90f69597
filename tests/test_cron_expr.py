"""CronFields: parsing the five cron fields and finding the next matching wall time."""

from __future__ import annotations

import datetime as dt
import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tickwork import CronSchedule, InvalidConfigError
from tickwork._cron_expr import LAST_YEAR, MACROS, CronFields


def wall_time(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, *, second: int = 0
) -> dt.datetime:
    """A naive wall time: what cron fields are matched against."""
    return dt.datetime(year, month, day, hour, minute, second)  # noqa: DTZ001 - naive on purpose


MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN"]
MONTHS += ["JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
# name, low, high of each field; the names a field also takes, from its low.
FIELDS = [
    ("minute", 0, 59, []),
    ("hour", 0, 23, []),
    ("day-of-month", 1, 31, []),
    ("month", 1, 12, MONTHS),
    ("day-of-week", 0, 7, DAYS),
]


@st.composite
def field_items(
    draw: st.DrawFn, low: int, high: int, names: list[str]
) -> tuple[str, set[int], bool]:
    """One comma-list item of a field: its text, the values it means, whether '*'."""
    top = 6 if names is DAYS else high  # an open end stops at Saturday

    def spell(value: int) -> str:
        if names and value - low < len(names) and draw(st.booleans()):
            name = names[value - low]
            return draw(st.sampled_from([name, name.lower(), name.title()]))
        return str(value)

    kind = draw(st.sampled_from(["star", "value", "range", "open"]))
    step = draw(st.integers(min_value=1, max_value=high - low + 2))
    stepped = draw(st.booleans())
    suffix = f"/{step}" if stepped else ""
    if kind == "star":
        return "*" + suffix, set(range(low, top + 1, step if stepped else 1)), True
    first = draw(st.integers(min_value=low, max_value=high))
    if kind == "value":
        return spell(first), {first}, False
    if kind == "open":
        first = min(first, top)
        return f"{spell(first)}/{step}", set(range(first, top + 1, step)), False
    last = draw(st.integers(min_value=first, max_value=high))
    values = set(range(first, last + 1, step if stepped else 1))
    return f"{spell(first)}-{spell(last)}{suffix}", values, False


@st.composite
def expressions(draw: st.DrawFn) -> tuple[str, list[set[int]], bool]:
    """A 5-field expression, the values each field means, and the Vixie day rule.

    The values are worked out here from how the text was built, apart from
    the parser. Day-of-week 7 is folded onto 0 (Sunday).
    """
    texts: list[str] = []
    sets: list[set[int]] = []
    starred: list[bool] = []
    for _name, low, high, names in FIELDS:
        items = draw(st.lists(field_items(low, high, names), min_size=1, max_size=3))
        texts.append(",".join(text for text, _, _ in items))
        sets.append(set().union(*(values for _, values, _ in items)))
        starred.append(items[0][2])
    if 7 in sets[4]:
        sets[4] = (sets[4] - {7}) | {0}
    either = not (starred[2] or starred[4])
    return " ".join(texts), sets, either


def oracle(wall: dt.datetime, sets: list[set[int]], *, either: bool) -> bool:
    """Whether *wall* matches, by the Vixie rules applied to known value sets."""
    minutes, hours, days, months, weekdays = sets
    in_days = wall.day in days
    in_weekdays = (wall.weekday() + 1) % 7 in weekdays
    day_ok = (in_days or in_weekdays) if either else (in_days and in_weekdays)
    return (
        wall.minute in minutes
        and wall.hour in hours
        and wall.month in months
        and day_ok
    )


def parse_or_none(text: str) -> CronFields | None:
    """The parsed fields, or None for an expression that never matches."""
    try:
        return CronFields.parse(text)
    except InvalidConfigError as error:
        if "never match" not in str(error):
            raise
        return None


walls = st.datetimes(min_value=wall_time(1970, 1, 1), max_value=wall_time(2100, 1, 1))


@settings(max_examples=50)
@given(expressions())
def test_each_field_means_the_values_its_text_names(
    case: tuple[str, list[set[int]], bool],
) -> None:
    """Lists, ranges, steps, names in any case and weekday 7 parse to their values."""
    text, sets, either = case
    fields = parse_or_none(text)
    if fields is None:
        return
    parsed = [fields.minutes, fields.hours, fields.days, fields.months, fields.weekdays]
    assert [set(values) for values in parsed] == sets
    assert all(list(values) == sorted(values) for values in parsed)
    assert fields.either_day == either


@settings(max_examples=50, deadline=None)
@given(expressions(), walls)
def test_next_wall_is_the_first_match_and_skips_none(
    case: tuple[str, list[set[int]], bool], start: dt.datetime
) -> None:
    """next_wall finds the first wall time the oracle accepts, checked minute by minute.

    Every minute from the start up to the answer (at most two days of them)
    fails the oracle, and the answer passes it.
    """
    text, sets, either = case
    fields = parse_or_none(text)
    if fields is None:
        return
    start = start.replace(second=0, microsecond=0)
    found = fields.next_wall(start)
    assert found is not None
    assert found >= start
    assert oracle(found, sets, either=either)
    assert fields.matches(found)
    wall = start
    while wall < min(found, start + dt.timedelta(days=2)):
        assert not oracle(wall, sets, either=either)
        assert not fields.matches(wall)
        wall += dt.timedelta(minutes=1)


# Every (month, day) that exists, with the weekdays it falls on in 2000-2027:
# 28 years hold every date on every weekday, leap days too.
CALENDAR: dict[tuple[int, int], set[int]] = {}
for _k in range(366 * 28):
    _date = dt.date(2000, 1, 1) + dt.timedelta(days=_k)
    CALENDAR.setdefault((_date.month, _date.day), set()).add((_date.weekday() + 1) % 7)


@settings(max_examples=50)
@given(expressions())
def test_an_expression_is_refused_only_when_no_date_can_match(
    case: tuple[str, list[set[int]], bool],
) -> None:
    """'never matches' is said exactly when no existing date passes the day rules."""
    text, (_, _, days, months, weekdays), either = case
    possible = any(
        (day in days or bool(seen & weekdays))
        if either
        else (day in days and bool(seen & weekdays))
        for (month, day), seen in CALENDAR.items()
        if month in months
    )
    assert (parse_or_none(text) is not None) == possible


@pytest.mark.parametrize(("macro", "expansion"), sorted(MACROS.items()))
def test_macros_mean_their_five_fields(macro: str, expansion: str) -> None:
    """Each @ macro, in any case, parses as its 5-field expansion."""
    assert CronFields.parse(macro) == CronFields.parse(expansion)
    assert CronFields.parse(macro.upper()) == CronFields.parse(expansion)


@pytest.mark.parametrize(
    ("text", "wall", "expected"),
    [
        # Both day fields restricted: either one matching is enough.
        ("0 0 13 * FRI", wall_time(2026, 2, 13), True),  # a Friday the 13th
        ("0 0 13 * FRI", wall_time(2026, 3, 13), True),  # a Friday
        ("0 0 13 * FRI", wall_time(2026, 5, 13), True),  # a Wednesday the 13th
        ("0 0 13 * FRI", wall_time(2026, 5, 15), True),  # a Friday
        ("0 0 13 * FRI", wall_time(2026, 5, 14), False),
        # A day field starting with '*' makes both needed.
        ("0 0 */2 * MON", wall_time(2026, 5, 11), True),  # Monday the 11th
        ("0 0 */2 * MON", wall_time(2026, 5, 18), False),  # Monday the 18th
        ("0 0 */2 * MON", wall_time(2026, 5, 13), False),  # Wednesday the 13th
        ("0 0 1 * *", wall_time(2026, 5, 1), True),
        ("0 0 1 * *", wall_time(2026, 5, 2), False),
        ("0 0 * * 7", wall_time(2026, 5, 3), True),  # 7 is Sunday
        ("0 0 * * 0", wall_time(2026, 5, 3), True),
        ("0 0 * * 1-5", wall_time(2026, 5, 3), False),
        ("*/15 * * * *", wall_time(2026, 5, 3, 7, 45), True),
        (
            "*/15 * * * *",
            wall_time(2026, 5, 3, 7, 45, second=1),
            False,
        ),  # not a whole minute
        ("1-30/5 * * * *", wall_time(2026, 5, 3, 7, 26), True),
        ("1-30/5 * * * *", wall_time(2026, 5, 3, 7, 31), False),
        ("0 9 * jan-mar,Dec mOn", wall_time(2026, 12, 7, 9), True),
        ("0 9 * jan-mar,Dec mOn", wall_time(2026, 11, 2, 9), False),
        ("0 0 * * 1/2", wall_time(2026, 5, 3), False),  # MON,WED,FRI: not Sunday
        ("0 0 * * 5-7", wall_time(2026, 5, 3), True),  # FRI-SUN
    ],
)
def test_known_matches(text: str, wall: dt.datetime, expected: bool) -> None:  # noqa: FBT001
    """Vixie day combination, weekday 7, steps, names and whole minutes."""
    assert CronFields.parse(text).matches(wall) is expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("61 * * * *", "'expression' field 'minute' must be 0-59 (got '61')"),
        ("* 24 * * *", "'expression' field 'hour' must be 0-23 (got '24')"),
        ("* * 0 * *", "'expression' field 'day-of-month' must be 1-31 (got '0')"),
        ("* * * 13 *", "field 'month' must be 1-12 or JAN-DEC (got '13')"),
        ("* * * JANUARY *", "field 'month' must be 1-12 or JAN-DEC (got 'JANUARY')"),
        ("* * * * 8", "field 'day-of-week' must be 0-7 or SUN-SAT (got '8')"),
        (
            "* * * * MON-FUN",
            "field 'day-of-week' must be 0-7 or SUN-SAT (got 'MON-FUN')",
        ),
        ("*/0 * * * *", "field 'minute' step must be a whole number >= 1 (got '*/0')"),
        ("*/x * * * *", "field 'minute' step must be a whole number >= 1 (got '*/x')"),
        ("*/ * * * *", "field 'minute' step must be a whole number >= 1 (got '*/')"),
        ("30-10 * * * *", "field 'minute' range must not run backwards (got '30-10')"),
        ("* * * * 7/1", "field 'day-of-week' range must not run backwards (got '7/1')"),
        ("1,,2 * * * *", "field 'minute' must be 0-59 (got '')"),
        ("-5 * * * *", "field 'minute' must be 0-59 (got '-5')"),
        ("\u0665 * * * *", "field 'minute' must be 0-59 (got '\u0665')"),
        ("* * * *", "'expression' must have 5 fields"),
        ("0 * * * * *", "'expression' must have 5 fields"),
        ("", "'expression' must have 5 fields"),
        ("@reboot", "'expression' macro must be one of @annually, @daily"),
        ("0 0 31 2 *", "never match: no allowed month has a day 31 (got '0 0 31 2 *')"),
        ("0 0 30 2 *", "never match: no allowed month has a day 30"),
        ("0 0 31 4,6,9,11 *", "never match: no allowed month has a day 31"),
        ("0 0 30,31 FEB */2", "never match"),
    ],
)
def test_bad_expressions_are_refused_naming_the_field(text: str, fragment: str) -> None:
    """Each refusal names the field, the rule and the offending part."""
    with pytest.raises(InvalidConfigError) as caught:
        CronFields.parse(text)
    assert fragment in str(caught.value)


@pytest.mark.parametrize(
    "text", ["0 0 31 2 MON", "0 0 31 * *", "0 0 */30 2 *", "0 0 29 2 *"]
)
def test_unlikely_but_possible_expressions_are_accepted(text: str) -> None:
    """A day only some months have, or a weekday alternative, can still match."""
    fields = CronFields.parse(text)
    assert fields.next_wall(wall_time(2026, 1, 1)) is not None


def test_leap_days_are_found_by_jumping_years() -> None:
    """'0 0 29 2 *' finds 50 leap days (2100 skipped) in well under a second."""
    fields = CronFields.parse("0 0 29 2 *")
    wall = wall_time(2001, 1, 1)
    found: list[dt.datetime] = []
    started = time.perf_counter()
    for _ in range(50):
        nxt = fields.next_wall(wall)
        assert nxt is not None
        found.append(nxt)
        wall = nxt + dt.timedelta(minutes=1)
    assert time.perf_counter() - started < 0.5
    assert [w.year for w in found[23:26]] == [2096, 2104, 2108]
    assert all((w.month, w.day, w.hour, w.minute) == (2, 29, 0, 0) for w in found)


def test_the_search_ends_after_the_last_year() -> None:
    """No wall time is found past LAST_YEAR, the end of datetime's range."""
    fields = CronFields.parse("0 0 29 2 *")
    assert fields.next_wall(wall_time(LAST_YEAR - 2, 3, 1)) is None
    last = CronFields.parse("59 23 31 12 *").next_wall(wall_time(LAST_YEAR, 1, 1))
    assert last == wall_time(LAST_YEAR, 12, 31, 23, 59)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("9" * 5000 + " * * * *", "field 'minute' must be 0-59"),
        ("0 " + "1" * 5000 + " * * *", "field 'hour' must be 0-23"),
        ("*/0000 * * * *", "field 'minute' step must be a whole number >= 1"),
    ],
)
def test_numbers_of_thousands_of_digits_are_refused_by_field(
    expression: str, message: str
) -> None:
    """Not int()'s own ValueError about its digit limit: the field, named."""
    with pytest.raises(InvalidConfigError, match=re.escape(message)):
        CronSchedule(expression)


def test_a_step_of_thousands_of_digits_keeps_only_the_first_value() -> None:
    """A step past the range is allowed, as in cron: only the range's start."""
    after = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    huge = CronSchedule("*/" + "9" * 5000 + " 3 * * *")
    assert huge.next_fire_times(after, 2) == CronSchedule("0 3 * * *").next_fire_times(
        after, 2
    )
