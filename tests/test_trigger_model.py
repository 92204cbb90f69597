"""parse_interval and the timestamp text of persisted triggers: pure properties."""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone

import pytest
import trio
from hypothesis import assume, given
from hypothesis import strategies as st

from tickwork import InvalidConfigError, WrongTypeError
from tickwork.triggers import (
    MemoryTriggerStore,
    TriggerRow,
    TriggerSweeper,
    parse_interval,
)
from tickwork.triggers._model import (
    MAX_INTERVAL_SECONDS,
    datetime_micros,
    format_timestamp,
    interval_seconds,
    timestamp_micros,
)

UNITS = (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))
GRAMMAR = re.compile(
    r"(?:[0-9]*[1-9][0-9]*d)?(?:[0-9]*[1-9][0-9]*h)?"
    r"(?:[0-9]*[1-9][0-9]*m)?(?:[0-9]*[1-9][0-9]*s)?"
)

# Counts small enough that any four groups stay below the 100-year maximum
# (10 000 d + 100 000 h + 10**6 m + 10**6 s is about 41 years).
groups = st.lists(
    st.sampled_from(UNITS).flatmap(
        lambda unit: st.tuples(
            st.just(unit),
            st.integers(min_value=1, max_value=10**4 if unit[0] == "d" else 10**5)
            if unit[0] in "dh"
            else st.integers(min_value=1, max_value=10**6),
        )
    ),
    min_size=1,
    max_size=4,
    unique_by=lambda group: group[0][0],
)


@given(groups, st.integers(min_value=0, max_value=3))
def test_valid_interval_text_parses_to_its_seconds(
    chosen: list[tuple[tuple[str, int], int]], zeros: int
) -> None:
    """Any groups in d/h/m/s order (leading zeros too) parse to their seconds."""
    chosen.sort(key=lambda group: -group[0][1])
    text = "".join(f"{'0' * zeros}{count}{unit}" for (unit, _), count in chosen)
    assert parse_interval(text) == sum(
        count * seconds for (_, seconds), count in chosen
    )


anything = st.one_of(
    st.text(),
    st.text(alphabet="0123456789dhms", max_size=40),
    st.from_regex(r"[0-9]{1,500}[dhms]([0-9]{1,30}[hms])?", fullmatch=True),
    st.binary(),
    st.integers(),
    st.floats(),
    st.none(),
)


@given(anything)
def test_parse_interval_returns_a_positive_finite_float_or_refuses(
    value: object,
) -> None:
    """Any value gives a float in (0, 100 years] or one of the two errors."""
    outcome: float | Exception
    try:
        outcome = parse_interval(value)  # type: ignore[arg-type]
    except (InvalidConfigError, WrongTypeError) as exc:
        outcome = exc
    if isinstance(outcome, Exception):
        assert "'interval'" in str(outcome)
        assert len(str(outcome)) < 400  # the value is cut to 200 characters
    else:
        assert type(outcome) is float
        assert math.isfinite(outcome)
        assert 0 < outcome <= MAX_INTERVAL_SECONDS


@pytest.mark.parametrize("text", ["36500d", "3153600000s", "0036500d", "36499d24h"])
def test_the_longest_interval_is_100_years(text: str) -> None:
    """36500d (100 years) is the maximum, however it is written."""
    assert parse_interval(text) == MAX_INTERVAL_SECONDS == 3_153_600_000


@pytest.mark.parametrize(
    "text",
    ["36500d1s", "3153600001s", "36501d", "9" * 400 + "s", "1" + "0" * 5000 + "d"],
)
def test_longer_intervals_are_refused_by_name(text: str) -> None:
    """Above 100 years is InvalidConfigError naming the rule, never OverflowError."""
    with pytest.raises(InvalidConfigError, match=r"'interval' must be at most 36500d"):
        parse_interval(text)
    with pytest.raises(InvalidConfigError, match="at most"):
        interval_seconds(text)


def test_interval_errors_cut_the_value_to_200_characters() -> None:
    """A megabyte of interval text shows as at most 200 characters, ending in '…'."""
    with pytest.raises(InvalidConfigError) as caught:
        parse_interval("x" * 10**6)
    assert len(str(caught.value)) < 400
    assert "…" in str(caught.value)
    with pytest.raises(WrongTypeError) as wrong:
        parse_interval(["x" * 10**6])  # type: ignore[arg-type]
    assert len(str(wrong.value)) < 400


def test_interval_seconds_refuses_what_is_not_text() -> None:
    """The sweeper's cached parser refuses bytes (an undecodable SQLite value)."""
    with pytest.raises(WrongTypeError, match="'interval'"):
        interval_seconds(b"15m")


@given(st.text(alphabet="0123456789dhms +-.DHMS ٣", max_size=8))
def test_text_outside_the_grammar_is_refused(text: str) -> None:
    """Whatever does not match the grammar (or totals zero) raises ValueError."""
    assume(not (text and GRAMMAR.fullmatch(text)))
    with pytest.raises(ValueError, match="'interval'"):
        parse_interval(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "0s",
        "15",
        "-5m",
        "+5m",
        "1.5h",
        "15M",
        " 15m",
        "15m ",
        "1m1h",
        "1h1h",
        "1h0m",
        "٣m",
        "m",
        "1w",
    ],
)
def test_the_specs_bad_examples_are_refused(text: str) -> None:
    """Empty, signs, bare numbers, zero groups, wrong order: all InvalidConfigError."""
    with pytest.raises(InvalidConfigError):
        parse_interval(text)


def test_examples_and_non_text() -> None:
    """The documented examples parse; a number is a TypeError, not silently seconds."""
    assert [parse_interval(t) for t in ("90s", "15m", "1h30m", "2d")] == [
        90,
        900,
        5400,
        172_800,
    ]
    with pytest.raises(WrongTypeError, match="duration text"):
        parse_interval(900)  # type: ignore[arg-type]


aware = st.datetimes(
    min_value=datetime(1970, 1, 1),  # noqa: DTZ001 - hypothesis wants naive bounds
    max_value=datetime(9998, 12, 31),  # noqa: DTZ001
    timezones=st.builds(
        timezone,
        st.timedeltas(
            min_value=timedelta(hours=-23), max_value=timedelta(hours=23)
        ).map(lambda d: timedelta(minutes=d // timedelta(minutes=1))),
    ),
)


@given(aware)
def test_written_timestamps_read_back_to_the_same_instant(moment: datetime) -> None:
    """format_timestamp writes the sweeper's form, and it parses to the same µs."""
    text = format_timestamp(moment)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z", text)
    assert timestamp_micros(text) == datetime_micros(moment)


@given(aware)
def test_rfc3339_offsets_and_fractions_are_read(moment: datetime) -> None:
    """isoformat with its offset (an RFC 3339 form) reads to the same instant."""
    assert timestamp_micros(moment.isoformat()) == datetime_micros(moment)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2026-01-01",
        "2026-01-01T00:00:00",
        "2026-13-01T00:00:00Z",
        "2026-01-01T24:00:00Z",
        "2026-01-01T00:00:60Z",
        "yesterday",
    ],
)
def test_non_rfc3339_timestamps_are_value_errors(text: str) -> None:
    """Dates alone, naive times and impossible dates do not parse."""
    with pytest.raises(ValueError):  # noqa: PT011 - any ValueError is the contract
        timestamp_micros(text)


def test_fractions_beyond_microseconds_are_truncated() -> None:
    """Nine fraction digits are cut to six, never rounded into the next second."""
    assert timestamp_micros("1970-01-01T00:00:01.999999999Z") == 1_999_999


async def _ignore(row: TriggerRow) -> None:
    """A dispatch that does nothing."""


# --- the sweeper's decision, against an oracle written with datetimes -------

START = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
rows = st.lists(
    st.tuples(
        st.sampled_from(["30s", "1m", "15m", "1h30m", "2d", "junk", "0s"]),
        st.one_of(
            st.none(), st.integers(min_value=-(10**6), max_value=10**7), st.just(-1)
        ),
        st.booleans(),
    ),
    max_size=12,
)


@given(rows, st.floats(min_value=1.0, max_value=5.0))
def test_every_enabled_row_gets_exactly_the_outcome_the_spec_gives(
    spec: list[tuple[str, int | None, bool]], catch_up: float
) -> None:
    """Each enabled row lands in the one report group the sweep rules select."""
    triggers = [
        TriggerRow(
            f"t{i}",
            f"t{i}",
            interval,
            enabled,
            None
            if offset is None
            else format_timestamp(START - timedelta(seconds=offset)),
        )
        for i, (interval, offset, enabled) in enumerate(spec)
    ]
    expected: dict[str, str] = {}
    for trigger, (interval, offset, enabled) in zip(triggers, spec, strict=True):
        if not enabled:
            continue
        try:
            seconds = parse_interval(interval)
        except ValueError:
            seconds = 0
        if seconds < 60:
            expected[trigger.name] = "invalid"
        elif offset is not None and offset < seconds:
            expected[trigger.name] = "not_due"
        else:
            expected[trigger.name] = "fired"

    async def sweep() -> dict[str, str]:
        sweeper = TriggerSweeper(
            MemoryTriggerStore(triggers),
            _ignore,
            clock=lambda: START,
            catch_up_factor=catch_up,
        )
        report = await sweeper.sweep()
        got = {}
        for group in ("fired", "not_due", "invalid", "lost_claim"):
            for name in getattr(report, group):
                assert name not in got
                got[name] = group
        assert report.errors == ()
        return got

    assert trio.run(sweep) == expected


async def test_an_absurd_interval_is_invalid_to_the_sweeper_not_fired() -> None:
    """A row of 400 nines of seconds is reported invalid; its neighbour still fires."""
    store = MemoryTriggerStore(
        [
            TriggerRow("1", "absurd", "9" * 400 + "s", True, None),
            TriggerRow("2", "fine", "1h", True, None),
        ]
    )
    sweeper = TriggerSweeper(store, _ignore, clock=lambda: START)
    report = await sweeper.sweep()
    assert report.invalid == ("absurd",)
    assert report.fired == ("fine",)


@given(aware)
def test_the_fast_path_agrees_with_the_general_reader(moment: datetime) -> None:
    """The sweeper's own form (fast path) and its +00:00 twin read the same."""
    text = format_timestamp(moment)
    assert timestamp_micros(text) == timestamp_micros(text[:-1] + "+00:00")


@pytest.mark.parametrize(
    "text", ["2026-11-23T12:00:0٣Z", "2026-11-23T1 :00:00Z", "2026-W47-1T12:00:00Z"]
)
def test_the_fast_path_refuses_what_rfc3339_refuses(text: str) -> None:
    """Strings shaped like the sweeper's form but not RFC 3339 still fail."""
    with pytest.raises(ValueError):  # noqa: PT011 - any ValueError is the contract
        timestamp_micros(text)
