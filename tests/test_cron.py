"""CronSchedule: calendar fire times in a time zone, with explicit DST policies.

The properties run over zones drawn from the whole tz database and instants
from 1970 to 2100. Offset changes are rare (about two a year), so most
examples start shortly before one, found here by probing and bisection,
apart from the code under test.
"""

from __future__ import annotations

import datetime as dt
import itertools
import time
import zoneinfo
from typing import TYPE_CHECKING, NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tickwork import InvalidConfigError, WrongTypeError
from tickwork._cron import CronSchedule, FoldPolicy, GapPolicy
from tickwork._cron_expr import CronFields

if TYPE_CHECKING:
    from collections.abc import Iterator

UTC = dt.timezone.utc
SECOND = dt.timedelta(seconds=1)
MINUTE = dt.timedelta(minutes=1)
DAY = dt.timedelta(days=1)
ZONES = sorted(zoneinfo.available_timezones())
# Zones whose changes are unusual: 30 and 120 minute shifts, negative DST,
# changes at midnight or across it, a skipped day, changes of the base offset.
ODD_ZONES = [
    "Africa/Casablanca",
    "America/Havana",
    "America/Nuuk",
    "America/Santiago",
    "America/Sao_Paulo",
    "Antarctica/Casey",
    "Antarctica/Troll",
    "Asia/Gaza",
    "Asia/Tehran",
    "Australia/Lord_Howe",
    "Europe/Berlin",
    "Europe/Dublin",
    "Pacific/Apia",
    "Pacific/Chatham",
    "Pacific/Kiritimati",
]
GAPS: list[GapPolicy] = ["shift", "skip"]
FOLDS: list[FoldPolicy] = ["first", "last", "both"]
POLICIES = list(itertools.product(GAPS, FOLDS))


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    """An aware UTC datetime."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=UTC)


def wall_time(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0
) -> dt.datetime:
    """A naive wall time."""
    return dt.datetime(year, month, day, hour, minute)  # noqa: DTZ001 - naive on purpose


class Change(NamedTuple):
    """An offset change: its instant and the offsets before and after it."""

    at: dt.datetime
    before: dt.timedelta
    after: dt.timedelta


def offset(zone: zoneinfo.ZoneInfo, instant: dt.datetime) -> dt.timedelta:
    """The zone's UTC offset at an instant."""
    found = instant.astimezone(zone).utcoffset()
    assert found is not None
    return found


def next_change(zone: zoneinfo.ZoneInfo, after: dt.datetime) -> Change | None:
    """The first offset change after *after*, within two years, or None.

    Probes every 6 hours, then bisects to the second.
    """
    low, start = after, offset(zone, after)
    for _ in range(4 * 730):
        high = low + dt.timedelta(hours=6)
        if offset(zone, high) != start:
            while high - low > SECOND:
                middle = low + (high - low) / 2
                middle -= dt.timedelta(microseconds=middle.microsecond)
                if middle <= low:
                    middle = low + SECOND
                if offset(zone, middle) == start:
                    low = middle
                else:
                    high = middle
            return Change(high, start, offset(zone, high))
        low = high
    return None


def local(zone: zoneinfo.ZoneInfo, instant: dt.datetime) -> dt.datetime:
    """The naive local wall time of an instant."""
    return instant.astimezone(zone).replace(tzinfo=None)


def ambiguous(aware: dt.datetime) -> bool:
    """Whether an aware local time names two instants (a fold)."""
    return aware.replace(fold=1 - aware.fold).utcoffset() != aware.utcoffset()


def gap_at(
    zone: zoneinfo.ZoneInfo, instant: dt.datetime
) -> tuple[dt.datetime, dt.datetime] | None:
    """The gap [start, end) of wall times that ends at *instant*, if one does."""
    before, after = offset(zone, instant - SECOND), offset(zone, instant)
    if after <= before:
        return None
    naive = instant.replace(tzinfo=None)
    return naive + before, naive + after


def scheduled_date(
    zone: zoneinfo.ZoneInfo, fields: CronFields, instant: dt.datetime
) -> dt.date:
    """The local date a fire belongs to: its own, or a shifted time's in the gap.

    Asserts the shifted time was legitimately shifted: it lies in the gap that
    ends at the instant, on a local date that exists on either side of it.
    """
    wall = local(zone, instant)
    if fields.matches(wall):
        return wall.date()
    gap = gap_at(zone, instant)
    assert gap is not None, f"{instant} is neither a match nor a gap's end"
    start, end = gap
    existing = {local(zone, instant - SECOND).date(), wall.date()}
    candidate = fields.next_wall(start.replace(second=0, microsecond=0))
    while candidate is not None and candidate < end:
        if candidate >= start and candidate.date() in existing:
            return candidate.date()
        candidate = fields.next_wall(candidate + MINUTE)
    msg = f"{instant}: no matching time on an existing date in the gap {gap}"
    raise AssertionError(msg)


def local_minutes(
    zone: zoneinfo.ZoneInfo, start: dt.datetime, stop: dt.datetime
) -> Iterator[dt.datetime]:
    """Brute force: each instant in (start, stop) whose local time is a whole minute.

    Yielded as aware local times; start is a whole second.
    """
    instant = start + SECOND
    while instant < stop:
        aware = instant.astimezone(zone)
        wait = (60 - aware.second) % 60
        if wait:
            instant += dt.timedelta(seconds=wait)
            continue
        yield aware
        instant += MINUTE


class Place(NamedTuple):
    """A zone, an instant to search from, and the next offset change if any."""

    zone: str
    after: dt.datetime
    change: Change | None

    def changed_walls(self) -> tuple[dt.datetime, dt.datetime] | None:
        """The wall times [start, end) the change skips or repeats."""
        if self.change is None:
            return None
        naive = self.change.at.replace(tzinfo=None)
        offsets = (self.change.before, self.change.after)
        return naive + min(offsets), naive + max(offsets)


@st.composite
def places(draw: st.DrawFn) -> Place:
    """A zone and an instant, mostly less than two days before an offset change."""
    name = draw(st.sampled_from(ZONES) | st.sampled_from(ODD_ZONES))
    after = draw(
        st.datetimes(
            min_value=wall_time(1970, 1, 1),
            max_value=wall_time(2100, 1, 1),
            timezones=st.just(UTC),
        )
    ).replace(microsecond=0)
    change = next_change(zoneinfo.ZoneInfo(name), after)
    if change is not None and draw(st.integers(0, 4)):
        lead = draw(st.integers(1, 2 * 86400) | st.integers(1, 3 * 3600))
        after = max(change.at - dt.timedelta(seconds=lead), after)
    return Place(name, after, change)


@st.composite
def dense_cases(draw: st.DrawFn) -> tuple[str, dt.datetime, str]:
    """A zone, an instant and an expression firing at least every few days.

    Mostly the expression's hours are those of the coming gap or fold.
    """
    place = draw(places())
    minute = draw(
        st.sampled_from(["*", "*/5", "*/15", "*/20", "0", "30", "15,45", "0-10/5"])
        | st.integers(0, 59).map(str)
    )
    hour = draw(
        st.sampled_from(["*", "*/2", "*/6", "0", "2", "23", "0-3", "1,2,22"])
        | st.integers(0, 23).map(str)
    )
    walls = place.changed_walls()
    if walls is not None and draw(st.integers(0, 3)):
        start, end = walls
        hour = ",".join(str(h) for h in sorted({start.hour, (end - SECOND).hour}))
    day = draw(st.sampled_from(["*", "*", "*", "*/2", "1-28"]))
    weekday = draw(st.sampled_from(["*", "*", "*", "MON-FRI", "0,6", "SUN"]))
    return place.zone, place.after, f"{minute} {hour} {day} * {weekday}"


@st.composite
def daily_cases(draw: st.DrawFn) -> tuple[str, dt.datetime, str]:
    """A daily fixed-time expression whose time mostly falls in a gap or a fold."""
    place = draw(places())
    walls = place.changed_walls()
    if walls is not None and draw(st.integers(0, 3)):
        start, end = walls
        size = (end - start) // MINUTE
        wall = start + dt.timedelta(minutes=draw(st.integers(0, max(size - 1, 0))))
        wall = wall.replace(second=0)
    else:
        wall = wall_time(2000, 1, 1, draw(st.integers(0, 23)), draw(st.integers(0, 59)))
    return place.zone, place.after, f"{wall.minute} {wall.hour} * * *"


policies = st.sampled_from(POLICIES)


@settings(max_examples=60, deadline=None)
@given(dense_cases(), policies)
def test_fire_times_strictly_increase_and_match_or_end_a_gap(
    case: tuple[str, dt.datetime, str], policy: tuple[GapPolicy, FoldPolicy]
) -> None:
    """Each fire time is aware UTC, after the last; it matches locally or ends a gap.

    A shifted time is the first instant after its gap, and the gap holds a
    matching time on a local date that exists. With 'skip' every fire
    time matches: nothing fires for a gap.
    """
    name, after, expression = case
    gap, fold = policy
    schedule = CronSchedule(expression, timezone=name, on_gap=gap, on_fold=fold)
    fires = schedule.next_fire_times(after, 12)
    assert len(fires) == 12
    assert all(fire.tzinfo is UTC for fire in fires)
    assert all(a < b for a, b in itertools.pairwise([after, *fires]))
    fields = CronFields.parse(expression)
    for fire in fires:
        if gap == "skip":
            assert fields.matches(local(schedule.zone, fire))
        else:
            scheduled_date(schedule.zone, fields, fire)


@settings(max_examples=40, deadline=None)
@given(dense_cases(), policies)
def test_no_matching_local_time_is_passed_over(
    case: tuple[str, dt.datetime, str], policy: tuple[GapPolicy, FoldPolicy]
) -> None:
    """No matching local time lies strictly between two fire times (minute walk).

    Except the repeat a fold policy leaves out: the second pass of a repeated
    time with 'first', the first pass with 'last'. Gaps hold no local time.
    """
    name, after, expression = case
    gap, fold = policy
    schedule = CronSchedule(expression, timezone=name, on_gap=gap, on_fold=fold)
    fields = CronFields.parse(expression)
    fires = [after, *schedule.next_fire_times(after, 6)]
    for start, stop in itertools.pairwise(fires):
        if stop - start > 3 * DAY:
            continue
        for aware in local_minutes(schedule.zone, start, stop):
            if not fields.matches(aware.replace(tzinfo=None)):
                continue
            left_out = ambiguous(aware) and aware.fold == (0 if fold == "last" else 1)
            assert fold != "both"
            assert left_out, f"{aware} matches between {start} and {stop}"


@settings(max_examples=80, deadline=None)
@given(daily_cases())
def test_a_daily_time_fires_once_per_local_date_that_exists(
    case: tuple[str, dt.datetime, str],
) -> None:
    """With the defaults a daily time fires exactly once on each existing local date.

    A shifted fire counts for the date of its missing time. A date is passed
    over only when none of it exists (the date line moved across it).
    """
    name, after, expression = case
    schedule = CronSchedule(expression, timezone=name)
    zone, fields = schedule.zone, CronFields.parse(expression)
    fires = schedule.next_fire_times(after, 5)
    dates = [scheduled_date(zone, fields, fire) for fire in fires]
    for earlier, later in itertools.pairwise(dates):
        assert later > earlier
        missing = earlier + DAY
        while missing < later:
            for hour, minute in ((0, 0), (12, 0), (23, 59)):
                wall = dt.datetime.combine(missing, dt.time(hour, minute), tzinfo=zone)
                assert local(zone, wall.astimezone(UTC)) != wall.replace(tzinfo=None)
            missing += DAY


@settings(max_examples=60, deadline=None)
@given(daily_cases(), st.sampled_from(FOLDS))
def test_a_repeated_time_fires_at_the_instants_its_fold_policy_names(
    case: tuple[str, dt.datetime, str], fold: FoldPolicy
) -> None:
    """A repeated time fires at its earlier instant, its later, or both, per policy."""
    name, after, expression = case
    schedule = CronSchedule(expression, timezone=name, on_fold=fold)
    fires = schedule.next_fire_times(after, 5)
    for fire in fires:
        aware = fire.astimezone(schedule.zone)
        if not ambiguous(aware):
            continue
        twin = aware.replace(fold=1 - aware.fold).astimezone(UTC)
        if fold == "both":
            assert twin in fires or twin > fires[-1] or twin <= after
        else:
            assert aware.fold == (0 if fold == "first" else 1)
            assert twin not in fires


@settings(max_examples=60, deadline=None)
@given(
    dense_cases(),
    policies,
    st.sampled_from([0.0, 0.5, 59.0, 3600.0, 86400.0 * 3]),
    st.integers(min_value=0, max_value=3 * 86400),
)
def test_every_way_of_asking_gives_the_same_fire_times(
    case: tuple[str, dt.datetime, str],
    policy: tuple[GapPolicy, FoldPolicy],
    jitter: float,
    earlier: int,
) -> None:
    """next_fire_times agrees with every other way of asking, jitter or not.

    With fire_times, with chained next_fire_time, and with a search that
    started earlier.
    """
    name, after, expression = case
    gap, fold = policy
    schedule = CronSchedule(
        expression,
        timezone=name,
        on_gap=gap,
        on_fold=fold,
        jitter=jitter,
    )
    fires = schedule.next_fire_times(after, 8)
    assert fires == list(itertools.islice(schedule.fire_times(after), 8))
    chained, instant = [], after
    for _ in range(8):
        instant = schedule.next_fire_time(instant)
        chained.append(instant)
    assert chained == fires
    sooner = schedule.fire_times(after - dt.timedelta(seconds=earlier))
    again = itertools.takewhile(lambda fire: fire <= fires[-1], sooner)
    assert [fire for fire in again if fire > after] == fires


@settings(max_examples=40, deadline=None)
@given(
    dense_cases(),
    st.floats(min_value=1e-3, max_value=86400),
    st.text(max_size=10),
)
def test_jitter_delays_each_time_by_less_than_jitter_and_the_next_gap(
    case: tuple[str, dt.datetime, str], jitter: float, key: str
) -> None:
    """A jittered fire lies in [nominal, nominal + jitter), before the next nominal.

    Replicas built apart agree on it.
    """
    name, after, expression = case
    plain = CronSchedule(expression, timezone=name)
    jittered = CronSchedule(expression, timezone=name, jitter=jitter, key=key)
    again = CronSchedule(expression, timezone=name, jitter=jitter, key=key)
    fires = jittered.next_fire_times(after, 6)
    assert fires == again.next_fire_times(after, 6)
    assert all(a < b for a, b in itertools.pairwise([after, *fires]))
    behind = plain.fire_times(after - dt.timedelta(seconds=jitter))
    nominal = list(itertools.takewhile(lambda instant: instant <= fires[-1], behind))
    used = []
    for fire in fires:
        index = max(i for i, n in enumerate(nominal) if n <= fire)
        used.append(index)
        assert fire - nominal[index] < dt.timedelta(seconds=jitter)
    # One fire per nominal time, none left out.
    assert used == list(range(used[0], used[0] + len(used)))


def test_jitter_spreads_and_keys_decorrelate() -> None:
    """Delays fill [0, jitter) and two keys give different delays."""
    after = utc(2026, 1, 1)
    one = CronSchedule("* * * * *", jitter=30, key="a").next_fire_times(after, 2000)
    other = CronSchedule("* * * * *", jitter=30, key="b").next_fire_times(after, 2000)
    delays = [(f - f.replace(second=0, microsecond=0)).total_seconds() for f in one]
    assert min(delays) < 1
    assert max(delays) > 29
    assert sum(a == b for a, b in zip(one, other, strict=True)) == 0


def test_a_jitter_longer_than_the_gap_never_reaches_the_next_time() -> None:
    """With a jitter of a day, an every-minute job still fires once a minute."""
    fires = CronSchedule("* * * * *", jitter=86400).next_fire_times(utc(2026, 1, 1), 50)
    minutes = [f.replace(second=0, microsecond=0) for f in fires]
    assert minutes == [minutes[0] + k * MINUTE for k in range(50)]


def test_a_sparse_schedule_with_a_long_jitter_finds_a_delayed_fire_behind() -> None:
    """A delayed fire whose nominal time is before 'after' still comes next."""
    schedule = CronSchedule("0 0 1 * *", jitter=20 * 86400, key="k")
    first = schedule.next_fire_time(utc(2026, 1, 1))
    assert utc(2026, 1, 1) < first < utc(2026, 1, 21)
    assert schedule.next_fire_time(first - SECOND) == first
    assert (
        schedule.next_fire_time(utc(2026, 1, 1) + (first - utc(2026, 1, 1)) / 2)
        == first
    )


# Known cases: every instant below is worked out by hand from the tz database.
def fires_on(
    expression: str,
    zone: str,
    start: dt.datetime,
    n: int,
    *,
    on_gap: GapPolicy = "shift",
    on_fold: FoldPolicy = "first",
) -> list[str]:
    """The next n fire times after start, as 'YYYY-MM-DD HH:MM' in UTC."""
    schedule = CronSchedule(expression, timezone=zone, on_gap=on_gap, on_fold=on_fold)
    return [f"{f:%Y-%m-%d %H:%M}" for f in schedule.next_fire_times(start, n)]


def test_berlin_spring_forward_shifts_or_skips_0230() -> None:
    """Berlin has no 02:30 on 2026-03-29: shift fires at 03:00 CEST, skip not at all.

    03:00 CEST is 01:00 UTC.
    """
    start = utc(2026, 3, 28, 12)
    assert fires_on("30 2 * * *", "Europe/Berlin", start, 2) == [
        "2026-03-29 01:00",
        "2026-03-30 00:30",
    ]
    assert fires_on("30 2 * * *", "Europe/Berlin", start, 2, on_gap="skip") == [
        "2026-03-30 00:30",
        "2026-03-31 00:30",
    ]


@pytest.mark.parametrize(
    ("fold", "expected"),
    [
        ("first", ["2026-10-25 00:30", "2026-10-26 01:30"]),
        ("last", ["2026-10-25 01:30", "2026-10-26 01:30"]),
        ("both", ["2026-10-25 00:30", "2026-10-25 01:30"]),
    ],
)
def test_berlin_fall_back_fires_0230_per_policy(
    fold: FoldPolicy, expected: list[str]
) -> None:
    """02:30 happens twice in Berlin on 2026-10-25: at 00:30 and 01:30 UTC."""
    assert (
        fires_on("30 2 * * *", "Europe/Berlin", utc(2026, 10, 24, 12), 2, on_fold=fold)
        == expected
    )


@pytest.mark.parametrize(
    ("fold", "expected"),
    [
        ("first", ["23:00", "00:00", "02:00", "03:00"]),
        ("last", ["23:00", "01:00", "02:00", "03:00"]),
        ("both", ["23:00", "00:00", "01:00", "02:00"]),
    ],
)
def test_hourly_across_a_fall_back_hour(fold: FoldPolicy, expected: list[str]) -> None:
    """Hourly in Berlin on 2026-10-25: the repeated 02:00 fires once or twice."""
    fires = fires_on(
        "0 * * * *", "Europe/Berlin", utc(2026, 10, 24, 22, 30), 4, on_fold=fold
    )
    assert [f[-5:] for f in fires] == expected


@pytest.mark.parametrize("gap", ["shift", "skip"])
def test_hourly_across_a_spring_forward_hour(gap: GapPolicy) -> None:
    """Hourly in Berlin on 2026-03-29: the missing 02:00 and 03:00 are one instant."""
    fires = fires_on(
        "0 * * * *", "Europe/Berlin", utc(2026, 3, 28, 23, 30), 3, on_gap=gap
    )
    assert fires == ["2026-03-29 00:00", "2026-03-29 01:00", "2026-03-29 02:00"]


def test_times_in_one_gap_shift_to_one_fire() -> None:
    """Every quarter of Berlin's missing 02:00 hour shifts to 03:00 CEST, fired once."""
    fires = fires_on("*/15 2 * * *", "Europe/Berlin", utc(2026, 3, 28, 12), 3)
    assert fires == ["2026-03-29 01:00", "2026-03-30 00:00", "2026-03-30 00:15"]


def test_lord_howe_half_hour_changes() -> None:
    """Lord Howe moves 30 minutes: 02:15 shifts to 02:30 (+11); 01:45 repeats."""
    assert fires_on("15 2 * * *", "Australia/Lord_Howe", utc(2026, 10, 3), 2) == [
        "2026-10-03 15:30",  # 2026-10-04 02:30 +11:00
        "2026-10-04 15:15",
    ]
    assert fires_on(
        "45 1 * * *", "Australia/Lord_Howe", utc(2026, 4, 4), 2, on_fold="both"
    ) == [
        "2026-04-04 14:45",  # 2026-04-05 01:45 +11:00
        "2026-04-04 15:15",  # 2026-04-05 01:45 +10:30
    ]


def test_sao_paulo_days_that_started_at_one() -> None:
    """Sao Paulo went from 00:00 to 01:00 on 2018-11-04: midnight fires at 01:00.

    On 2019-02-17 midnight came back to 23:00 of the 16th: 23:30 repeats.
    """
    assert fires_on("0 0 * * *", "America/Sao_Paulo", utc(2018, 11, 3, 12), 2) == [
        "2018-11-04 03:00",  # 01:00 -02:00
        "2018-11-05 02:00",
    ]
    assert fires_on(
        "0 0 * * *", "America/Sao_Paulo", utc(2018, 11, 3, 12), 1, on_gap="skip"
    ) == ["2018-11-05 02:00"]
    assert fires_on(
        "30 23 * * *", "America/Sao_Paulo", utc(2019, 2, 16, 12), 2, on_fold="both"
    ) == [
        "2019-02-17 01:30",  # 23:30 -02:00
        "2019-02-17 02:30",  # 23:30 -03:00
    ]


def test_apia_skipped_2011_12_30() -> None:
    """Pacific/Apia went from 2011-12-29 to 2011-12-31: a daily job skips the 30th.

    There is no 30th to fire for, so nothing shifts onto the 31st.
    """
    expected = ["2011-12-29 19:00", "2011-12-30 19:00"]  # 09:00 -10:00, 09:00 +14:00
    assert fires_on("0 9 * * *", "Pacific/Apia", utc(2011, 12, 29, 12), 2) == expected
    fires = CronSchedule("0 9 * * *", timezone="Pacific/Apia").next_fire_times(
        utc(2011, 12, 29, 12), 2
    )
    assert [
        f"{f.astimezone(zoneinfo.ZoneInfo('Pacific/Apia')):%m-%d %H:%M}" for f in fires
    ] == [
        "12-29 09:00",
        "12-31 09:00",
    ]


def test_nuuk_shifts_a_late_evening_across_midnight() -> None:
    """America/Nuuk skips Saturday 23:00-24:00: Saturday's 23:30 fires at Sunday 00:00.

    Saturday exists, so its run happens, late, rather than not at all.
    """
    assert fires_on("30 23 * * *", "America/Nuuk", utc(2026, 3, 28, 12), 2) == [
        "2026-03-29 01:00",  # Sunday 00:00 -01:00
        "2026-03-30 00:30",
    ]


def test_leap_day_schedule_is_fast_and_right() -> None:
    """'0 0 29 2 *' jumps years: 2096, 2104 (2100 is not a leap year), quickly."""
    schedule = CronSchedule("0 0 29 2 *", timezone="Europe/Berlin")
    started = time.perf_counter()
    fires = schedule.next_fire_times(utc(2095, 1, 1), 3)
    assert time.perf_counter() - started < 0.1
    assert [f"{f:%Y-%m-%d %H:%M}" for f in fires] == [
        "2096-02-28 23:00",
        "2104-02-28 23:00",
        "2108-02-28 23:00",
    ]


def test_the_end_of_datetime_ends_the_fire_times() -> None:
    """Past local year 9998 there are no fire times; the extremes of datetime work."""
    schedule = CronSchedule("@yearly", timezone="Pacific/Kiritimati")
    assert schedule.next_fire_times(dt.datetime.max.replace(tzinfo=UTC), 3) == []
    assert len(schedule.next_fire_times(utc(9997, 6, 1), 3)) == 1
    with pytest.raises(InvalidConfigError, match="'after' leaves no fire time"):
        schedule.next_fire_time(utc(9999, 1, 1))
    jittered = CronSchedule("@yearly", jitter=3600, key="end")
    # The last fire time has no next one to stay below: it is not delayed.
    assert jittered.next_fire_times(utc(9997, 6, 1), 3) == [utc(9998, 1, 1)]
    first = CronSchedule("@hourly", timezone="America/Adak").next_fire_time(
        dt.datetime.min.replace(tzinfo=UTC)
    )
    assert first.year == 1


def test_after_in_any_zone_means_the_same_instant() -> None:
    """'after' may be aware in any zone; results are always in UTC."""
    schedule = CronSchedule("0 3 * * *", timezone="Europe/Berlin")
    tokyo = zoneinfo.ZoneInfo("Asia/Tokyo")
    after = utc(2026, 6, 1)
    assert schedule.next_fire_times(
        after.astimezone(tokyo), 3
    ) == schedule.next_fire_times(after, 3)
    assert schedule.next_fire_times(after, 0) == []


@pytest.mark.parametrize(
    ("options", "error", "fragment"),
    [
        (
            {"expression": "61 * * * *"},
            InvalidConfigError,
            "'expression' field 'minute' must be 0-59 (got '61')",
        ),
        (
            {"expression": "0 0 31 2 *"},
            InvalidConfigError,
            "'expression' fields 'day-of-month' and 'month' never match",
        ),
        ({"expression": 5}, WrongTypeError, "'expression' must be a str (got 5)"),
        (
            {"timezone": "Mars/Olympus"},
            InvalidConfigError,
            (
                "'timezone' must be an IANA zone name such as 'Europe/Berlin': "
                "unknown zone (got 'Mars/Olympus')"
            ),
        ),
        (
            {"timezone": "../etc/passwd"},
            InvalidConfigError,
            "unknown zone (got '../etc/passwd')",
        ),
        ({"timezone": ""}, InvalidConfigError, "unknown zone (got '')"),
        ({"timezone": None}, WrongTypeError, "'timezone' must be a str (got None)"),
        (
            {"jitter": -1},
            InvalidConfigError,
            "'jitter' must be finite and >= 0 (got -1)",
        ),
        (
            {"jitter": float("inf")},
            InvalidConfigError,
            "'jitter' must be finite and >= 0",
        ),
        ({"jitter": "1"}, WrongTypeError, "'jitter' must be a real number"),
        (
            {"on_gap": "later"},
            InvalidConfigError,
            "'on_gap' must be one of 'shift', 'skip' (got 'later')",
        ),
        ({"on_gap": 1}, WrongTypeError, "'on_gap' must be a str (got 1)"),
        (
            {"on_fold": "twice"},
            InvalidConfigError,
            "'on_fold' must be one of 'first', 'last', 'both' (got 'twice')",
        ),
        ({"key": b"k"}, WrongTypeError, "'key' must be a str (got b'k')"),
    ],
)
def test_bad_settings_are_refused_by_name(
    options: dict[str, object], error: type[Exception], fragment: str
) -> None:
    """Each refusal names the field, the rule and the value."""
    settings = {"expression": "0 3 * * *", **options}
    with pytest.raises(error) as caught:
        CronSchedule(**settings)  # type: ignore[arg-type]
    assert fragment in str(caught.value)


def test_bad_queries_are_refused_by_name() -> None:
    """A naive or non-datetime 'after' and a bad 'n' are refused by name."""
    schedule = CronSchedule("0 3 * * *")
    with pytest.raises(
        InvalidConfigError, match="'after' must be an aware datetime, not naive"
    ):
        schedule.next_fire_time(wall_time(2026, 1, 1))
    with pytest.raises(
        InvalidConfigError, match="'after' must be an aware datetime, not naive"
    ):
        schedule.fire_times(wall_time(2026, 1, 1))
    with pytest.raises(WrongTypeError, match="'after' must be an aware datetime"):
        schedule.next_fire_times(0, 1)  # type: ignore[arg-type]
    with pytest.raises(InvalidConfigError, match=r"'n' must be >= 0 \(got -1\)"):
        schedule.next_fire_times(utc(2026, 1, 1), -1)
    with pytest.raises(WrongTypeError, match=r"'n' must be an int \(got True\)"):
        schedule.next_fire_times(utc(2026, 1, 1), True)


def test_equal_settings_make_equal_schedules() -> None:
    """Schedules compare by their settings, not their parsed state."""
    assert CronSchedule("@daily", timezone="Europe/Berlin") == CronSchedule(
        "@daily", timezone="Europe/Berlin"
    )
    assert CronSchedule("@daily") != CronSchedule("@daily", on_fold="both")
    assert "Europe/Berlin" in repr(CronSchedule("@daily", timezone="Europe/Berlin"))
