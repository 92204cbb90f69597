"""Properties of TickSchedule, the pure jittered ticker."""

from __future__ import annotations

import itertools
import math
import random

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.strategies import (
    MAX,
    MESSAGE_LIMIT,
    anchors,
    intervals,
    numbers,
    seeds,
    sizes,
    tick_schedules,
)
from tickwork import InvalidConfigError, TickSchedule, WrongTypeError


def _tolerance(schedule: TickSchedule, anchor: float, index: int) -> float:
    """Float rounding allowed at instant *index*: a few ulps of its size."""
    magnitude = abs(anchor) + (index + 1) * schedule.interval
    return 4 * math.ulp(magnitude)


def _take(schedule: TickSchedule, anchor: float, seed: int, count: int) -> list[float]:
    return list(itertools.islice(schedule.instants(anchor, random.Random(seed)), count))


@given(tick_schedules(), anchors, seeds, st.integers(min_value=1, max_value=200))
def test_every_gap_lies_in_the_envelope(
    schedule: TickSchedule, anchor: float, seed: int, count: int
) -> None:
    """Every gap, the first from the anchor too, is within interval*(1 +/- jitter)."""
    points = [anchor, *_take(schedule, anchor, seed, count)]
    low = schedule.interval * (1 - schedule.jitter)
    high = schedule.interval * (1 + schedule.jitter)
    for index, (before, after) in enumerate(itertools.pairwise(points)):
        slack = _tolerance(schedule, anchor, index + 1) * 2
        assert low - slack <= after - before <= high + slack


@given(tick_schedules(), anchors, seeds, st.integers(min_value=1, max_value=300))
def test_phase_error_is_bounded_not_a_random_walk(
    schedule: TickSchedule, anchor: float, seed: int, count: int
) -> None:
    """Each instant stays within jitter*interval/2 of its grid point."""
    for index, instant in enumerate(_take(schedule, anchor, seed, count), start=1):
        grid = anchor + index * schedule.interval
        assert abs(instant - grid) <= schedule.spread + _tolerance(
            schedule, anchor, index
        )


@given(tick_schedules(), anchors, seeds, st.integers(min_value=10**6, max_value=10**12))
def test_no_drift_even_after_a_trillion_ticks(
    schedule: TickSchedule, anchor: float, seed: int, index: int
) -> None:
    """Instant k is computed from the anchor, so its error does not grow with k."""
    instant = schedule.instant(anchor, index, random.Random(seed))
    grid = anchor + index * schedule.interval
    assert abs(instant - grid) <= schedule.spread + _tolerance(schedule, anchor, index)


@given(tick_schedules(), anchors, seeds)
def test_instants_strictly_increase(
    schedule: TickSchedule, anchor: float, seed: int
) -> None:
    """Instants strictly increase from the anchor on, even where rounding would tie."""
    points = [anchor, *_take(schedule, anchor, seed, 300)]
    assert all(after > before for before, after in itertools.pairwise(points))


@given(intervals, anchors, st.integers(min_value=1, max_value=300))
def test_zero_jitter_is_exactly_the_grid(
    interval: float, anchor: float, count: int
) -> None:
    """With jitter 0, t_k == anchor + k * interval exactly, and no rng is needed."""
    schedule = TickSchedule(interval=interval, jitter=0)
    points = list(itertools.islice(schedule.instants(anchor), count))
    expected = [anchor + k * interval for k in range(1, count + 1)]
    # Only the strictness guard may move a point, and only where the grid
    # itself ties under rounding.
    if all(b > a for a, b in itertools.pairwise([anchor, *expected])):
        assert points == expected


@given(tick_schedules(), anchors, seeds)
def test_same_seed_same_sequence(
    schedule: TickSchedule, anchor: float, seed: int
) -> None:
    """Two rngs seeded alike give the same instants."""
    assert _take(schedule, anchor, seed, 50) == _take(schedule, anchor, seed, 50)


@given(tick_schedules(), anchors, seeds)
def test_mean_gap_tends_to_the_interval(
    schedule: TickSchedule, anchor: float, seed: int
) -> None:
    """The mean gap over n ticks is within jitter*interval/(2n) of interval."""
    count = 2000
    last = _take(schedule, anchor, seed, count)[-1]
    mean_gap = (last - anchor) / count
    slack = (schedule.spread + _tolerance(schedule, anchor, count)) / count
    assert abs(mean_gap - schedule.interval) <= slack + math.ulp(schedule.interval) * 4


def test_instants_stay_strict_where_the_grid_rounds_to_one_value() -> None:
    """Far from zero, where anchor + k*interval rounds to ties, instants still rise."""
    anchor = 1e16  # one ulp here is 2.0, four times the interval
    points = list(
        itertools.islice(TickSchedule(interval=0.5, jitter=0).instants(anchor), 8)
    )
    assert all(
        after > before for before, after in itertools.pairwise([anchor, *points])
    )


def test_jittered_instants_are_not_all_on_the_grid() -> None:
    """Jitter actually moves the instants (a guard against a no-op jitter)."""
    schedule = TickSchedule(interval=1.0, jitter=0.5)
    offsets = {
        round(t - k, 9) for k, t in enumerate(_take(schedule, 0.0, 7, 20), start=1)
    }
    assert len(offsets) == 20


def test_unseeded_instants_use_fresh_randomness() -> None:
    """Without an rng, each sequence draws its own jitter."""
    schedule = TickSchedule(interval=1.0, jitter=0.5)
    first = list(itertools.islice(schedule.instants(0.0), 10))
    second = list(itertools.islice(schedule.instants(0.0), 10))
    assert first != second


# --- the skip helper -------------------------------------------------------


@given(
    intervals,
    anchors,
    st.integers(min_value=1, max_value=50),
    st.floats(min_value=0.0, max_value=300.0),
)
def test_skip_with_zero_jitter_skips_exactly_the_passed_grid_points(
    interval: float, anchor: float, index: int, behind: float
) -> None:
    """With jitter 0, each grid point <= now is skipped; the next is the first > now."""
    schedule = TickSchedule(interval=interval, jitter=0)
    instant = anchor + index * interval
    now = instant + behind * interval
    if now < instant:  # rounding of a huge anchor; not a late consumer
        return
    missed = schedule.skip_missed(anchor, index, instant, now, random.Random(0))
    expected = index
    while anchor + expected * interval <= now:
        expected += 1
    assert missed.next_index == expected
    assert missed.skipped == expected - index
    assert missed.next_instant == anchor + expected * interval
    assert missed.next_instant > now


@given(
    tick_schedules(),
    anchors,
    seeds,
    st.integers(min_value=1, max_value=50),
    st.floats(min_value=0.0, max_value=10.0**9),
)
def test_skip_lands_on_the_first_band_that_can_be_after_now(
    schedule: TickSchedule, anchor: float, seed: int, index: int, behind: float
) -> None:
    """The result is > now, inside its band; the last skipped index could be <= now."""
    rng = random.Random(seed)
    instant = schedule.instant(anchor, index, rng)
    now = instant + behind * schedule.interval
    missed = schedule.skip_missed(anchor, index, instant, now, rng)
    slack = _tolerance(schedule, anchor, missed.next_index)
    assert missed.next_instant > now
    assert missed.next_index > index
    assert missed.skipped == missed.next_index - index
    grid = anchor + missed.next_index * schedule.interval
    assert abs(missed.next_instant - grid) <= schedule.spread + slack
    # The last skipped index could really have fired at or before now.
    assert (
        anchor + (missed.next_index - 1) * schedule.interval - schedule.spread
        <= now + slack
    )


@given(tick_schedules(), anchors, seeds, st.integers(min_value=1, max_value=50))
def test_skip_keeps_an_instant_still_ahead(
    schedule: TickSchedule, anchor: float, seed: int, index: int
) -> None:
    """An instant after now is returned unchanged, with nothing skipped."""
    rng = random.Random(seed)
    instant = schedule.instant(anchor, index, rng)
    state = rng.getstate()
    now = math.nextafter(instant, -math.inf)
    assert schedule.skip_missed(anchor, index, instant, now, rng) == (0, index, instant)
    assert rng.getstate() == state


def test_skip_is_constant_time_however_far_behind() -> None:
    """A consumer a billion intervals behind is caught up with at most a few draws."""
    schedule = TickSchedule(interval=1.0, jitter=0.5)
    draws = 0

    class CountingRandom(random.Random):
        def uniform(self, a: float, b: float) -> float:
            nonlocal draws
            draws += 1
            return super().uniform(a, b)

    missed = schedule.skip_missed(0.0, 1, 1.0, 1e9 + 0.5, CountingRandom(1))
    assert missed.next_instant > 1e9 + 0.5
    assert 10**9 - 2 <= missed.skipped <= 10**9 + 1
    assert draws <= 3


def test_an_overrun_of_1_2_intervals_runs_every_other_tick() -> None:
    """Interval 1, a 1.2 s run from 0: skips t=1 and resumes at 2 (as documented)."""
    schedule = TickSchedule(interval=1.0, jitter=0)
    assert schedule.skip_missed(0.0, 1, 1.0, 1.2, random.Random()) == (1, 2, 2.0)


# --- any number a caller may pass, and the ends of the float range ---------------


any_intervals = sizes
any_fractions = st.floats(min_value=0.0, max_value=1.0, exclude_max=True)
# Clock readings anywhere in the float range.
any_instants = st.floats(allow_nan=False, allow_infinity=False)


@pytest.mark.parametrize("field", ["interval", "jitter"])
@pytest.mark.parametrize("value", [2**2000, -(2**2000)], ids=["huge", "-huge"])
def test_ints_past_float_range_are_refused_not_overflowed(
    field: str, value: int
) -> None:
    """2**2000 is an InvalidConfigError naming the field, never an OverflowError."""
    kwargs: dict[str, object] = {"interval": 1.0, field: value}
    with pytest.raises(InvalidConfigError) as caught:
        TickSchedule(**kwargs)  # type: ignore[arg-type]
    assert str(caught.value).startswith(f"'{field}' must be ")
    assert len(str(caught.value)) < MESSAGE_LIMIT


@given(numbers, numbers)
@example(2**2000, 0.1)
@example(MAX, 0.999)
def test_any_numbers_build_or_raise_a_named_config_error(
    interval: float, jitter: float
) -> None:
    """TickSchedule(...) of any numbers builds or raises a named config error."""
    refusal: Exception | None = None
    try:
        TickSchedule(interval=interval, jitter=jitter)
    except (InvalidConfigError, WrongTypeError) as exc:
        refusal = exc
    if refusal is not None:
        assert str(refusal).startswith(("'interval' must be", "'jitter' must be"))
        assert len(str(refusal)) < MESSAGE_LIMIT


@given(any_intervals, any_fractions, any_instants, seeds)
@example(10**308, 0.0, 0.0, 0)
@example(10**308, 0.5, -1e308, 0)
@example(MAX, 0.999, MAX, 0)
@example(1e308, 0.5, 1e308, 0)
def test_instants_never_raise_or_give_nan_up_to_the_end_of_the_float_range(
    interval: float, jitter: float, anchor: float, seed: int
) -> None:
    """Instants rise strictly while finite; past the largest float they are inf."""
    schedule = TickSchedule(interval=interval, jitter=jitter)
    points = [anchor, *_take(schedule, anchor, seed, 20)]
    assert not any(math.isnan(point) for point in points)
    for before, after in itertools.pairwise(points):
        assert after > before or after == before == math.inf


@given(
    any_intervals,
    any_fractions,
    st.tuples(any_instants, any_instants),
    st.integers(min_value=1, max_value=2**70),
    seeds,
)
@example(1e308, 0.5, (-1e308, 1e308), 1, 0)  # now - anchor overflows
@example(5e-324, 0.0, (0.0, 1e10), 1, 0)  # far behind a grid finer than floats
@example(5e-324, 0.5, (1e10, 1e10 + 1), 1, 0)
@example(1e-300, 0.0, (1e10, 1e10), 1, 0)  # a grid finer than the clock's ulp
@example(10**308, 0.9, (0.0, 1e308), 1, 0)  # an int interval near the largest float
def test_skip_terminates_and_lands_after_now_for_any_valid_schedule(
    interval: float,
    jitter: float,
    clock: tuple[float, float],
    index: int,
    seed: int,
) -> None:
    """skip_missed returns an instant > now, quickly, for any schedule and clock."""
    anchor, now = clock
    schedule = TickSchedule(interval=interval, jitter=jitter)
    rng = random.Random(seed)
    instant = min(schedule.instant(anchor, index, rng), now)
    missed = schedule.skip_missed(anchor, index, instant, now, rng)
    assert missed.next_instant > now
    assert missed.next_index > index
    assert missed.skipped == missed.next_index - index


def test_an_int_interval_near_the_largest_float_does_not_overflow() -> None:
    """interval=10**308 gives inf (never) for t_2 instead of an OverflowError."""
    schedule = TickSchedule(interval=10**308, jitter=0)
    assert list(itertools.islice(schedule.instants(0.0), 3)) == [
        1e308,
        math.inf,
        math.inf,
    ]


def test_an_index_past_the_float_range_gives_the_exact_instant_or_inf() -> None:
    """instant() with an index past the float range is exact, or +/-inf beyond it."""
    rng = random.Random(0)
    fine = TickSchedule(interval=1e-300, jitter=0)
    assert fine.instant(1.0, 10**400, rng) == 1.0 + 1e100
    coarse = TickSchedule(interval=1.0, jitter=0)
    assert coarse.instant(0.0, 10**400, rng) == math.inf
    assert coarse.instant(0.0, -(10**400), rng) == -math.inf
