"""ticks() under Trio's MockClock: exact instants, skips, seeds and cancellation."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

import attrs
import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.strategies import MESSAGE_LIMIT, fractions, numbers, seeds
from tickwork import InvalidConfigError, Tick, WrongTypeError, ticks

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


async def take(
    iterator: AsyncIterator[Tick], count: int, body: float = 0.0
) -> list[Tick]:
    """The first *count* items, each body sleeping *body* seconds."""
    items: list[Tick] = []
    async for tick in iterator:
        items.append(tick)
        if len(items) == count:
            return items
        await trio.sleep(body)
    raise AssertionError  # pragma: no cover - ticks() never ends


def timeline(items: list[Tick]) -> list[tuple[int, float, int]]:
    """Each item as (index, scheduled, skipped)."""
    return [(tick.index, tick.scheduled, tick.skipped) for tick in items]


async def test_first_tick_comes_at_once_then_one_per_interval(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """With run_on_start, tick 0 is at the anchor, then one tick per interval."""
    await trio.sleep(5)
    items = await take(ticks(2), 4)
    assert timeline(items) == [(0, 5, 0), (1, 7, 0), (2, 9, 0), (3, 11, 0)]
    assert [tick.lateness for tick in items] == [0, 0, 0, 0]
    assert trio.current_time() == 11


async def test_without_run_on_start_the_first_item_is_tick_one(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """run_on_start=False: the first item is index 1, one interval after the anchor."""
    items = await take(ticks(1.5, run_on_start=False), 3)
    assert timeline(items) == [(1, 1.5, 0), (2, 3.0, 0), (3, 4.5, 0)]


async def test_no_drift_over_many_ticks(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """10 000 ticks with a body of half an interval stay exactly on the grid."""
    items = await take(ticks(0.25), 10_000, body=0.125)
    assert [tick.scheduled for tick in items] == [k * 0.25 for k in range(10_000)]
    assert all(tick.lateness == 0 for tick in items)
    assert all(tick.skipped == 0 for tick in items)


async def test_instants_come_from_the_anchor_not_from_a_sum(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """An interval of 0.1 gives anchor + k * 0.1, not 0.1 added k times."""
    items = await take(ticks(0.1), 1_000, body=0.05)
    assert [tick.scheduled for tick in items] == [k * 0.1 for k in range(1_000)]
    added = 0.0
    for _ in range(999):
        added += 0.1
    assert added != items[-1].scheduled  # what an accumulating loop would wait for


async def test_overrun_skips_to_the_next_grid_instant(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A 2.5 s body every 1 s: ticks 0, 3, 6, 9, each after 2 skipped ones."""
    items = await take(ticks(1), 4, body=2.5)
    assert timeline(items) == [(0, 0, 0), (3, 3, 2), (6, 6, 2), (9, 9, 2)]
    assert [tick.lateness for tick in items] == [0, 0, 0, 0]


async def test_a_body_ending_exactly_on_an_instant_skips_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A body that takes exactly one interval skips the instant it ends on."""
    items = await take(ticks(1), 3, body=1)
    assert timeline(items) == [(0, 0, 0), (2, 2, 1), (4, 4, 1)]


async def test_skips_count_only_what_each_body_overran(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Bodies of 0.5, 3.2 and 1.7 s skip 0, 3 and 1 ticks of a 1 s grid."""
    seen: list[Tick] = []
    async for tick in ticks(1):
        seen.append(tick)
        if len(seen) == 4:
            break
        await trio.sleep((0.5, 3.25, 1.75)[len(seen) - 1])
    assert timeline(seen) == [(0, 0, 0), (1, 1, 0), (5, 5, 3), (7, 7, 1)]


async def test_first_step_is_a_checkpoint_and_tick_zero_survives_a_cancel(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A cancelled first step raises Cancelled; the next step still gives tick 0."""
    iterator = ticks(1)
    with trio.CancelScope() as scope:
        scope.cancel()
        await iterator.__anext__()
    assert scope.cancelled_caught
    await trio.sleep(0.25)
    tick = await iterator.__anext__()
    assert (tick.index, tick.scheduled, tick.lateness) == (0, 0, 0.25)
    assert timeline(await take(iterator, 1)) == [(1, 1, 0)]


async def test_a_cancelled_wait_keeps_the_same_jittered_instant(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """After a cancel caught mid-wait, the next step waits for the same instant."""
    reference = await take(ticks(8, jitter=0.5, seed=3), 3)
    anchor = trio.current_time()
    iterator = ticks(8, jitter=0.5, seed=3)
    await iterator.__anext__()
    with trio.move_on_after(1) as scope:
        await iterator.__anext__()
    assert scope.cancelled_caught
    resumed = await iterator.__anext__()
    assert resumed.index == 1
    assert resumed.scheduled - anchor == pytest.approx(reference[1].scheduled)
    assert resumed.skipped == 0


async def test_breaking_out_and_iterating_again_continues_the_grid(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The same iterator, iterated again after 3.5 s away, skips what passed."""
    iterator = ticks(1)
    assert timeline(await take(iterator, 2)) == [(0, 0, 0), (1, 1, 0)]
    await trio.sleep(3.5)
    assert timeline(await take(iterator, 2)) == [(5, 5, 3), (6, 6, 0)]


async def test_seed_makes_the_jitter_reproducible_relative_to_the_anchor(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The same seed gives the same jittered instants; another seed, others."""
    first = await take(ticks(4, jitter=0.5, seed=7), 50)
    anchor = trio.current_time()
    again = await take(ticks(4, jitter=0.5, seed=7), 50)
    other = await take(ticks(4, jitter=0.5, seed=8), 50)
    assert [t.scheduled - anchor for t in again] == pytest.approx(
        [t.scheduled for t in first], rel=0, abs=1e-9
    )
    assert [t.index for t in again] == list(range(50))
    offsets = [t.scheduled - 4 * t.index for t in first]
    assert offsets != [t.scheduled - (anchor + 4 * t.index) for t in other]


async def test_jitter_stays_in_its_envelope_and_spreads(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """With jitter 0.5 of 2 s each instant is within 0.5 s of its grid point."""
    items = await take(ticks(2, jitter=0.5, seed=1), 500)
    offsets = [tick.scheduled - 2 * tick.index for tick in items[1:]]
    assert all(-0.5 <= offset <= 0.5 for offset in offsets)
    assert min(offsets) < -0.4
    assert max(offsets) > 0.4
    assert items[0].scheduled == 0  # tick 0 is the anchor itself


async def test_no_seed_draws_fresh_jitter(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Without a seed two iterators jitter differently."""
    first = await take(ticks(1, jitter=0.5), 20)
    anchor = trio.current_time()
    second = await take(ticks(1, jitter=0.5), 20)
    assert [t.scheduled for t in first] != [t.scheduled - anchor for t in second]


async def test_a_grid_finer_than_the_clock_still_moves_forward(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """An interval below one ulp of the clock yields strictly later instants."""
    await trio.sleep_until(1e9)
    items = await take(ticks(1e-9), 5)
    scheduled = [tick.scheduled for tick in items]
    assert scheduled == sorted(set(scheduled))
    assert all(tick.skipped > 0 for tick in items[1:])


def test_tick_is_a_frozen_slotted_record() -> None:
    """Tick's fields cannot be reassigned and it carries no __dict__."""
    tick = Tick(index=3, scheduled=3.0, lateness=0.0, skipped=2)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        tick.index = 4  # type: ignore[misc]
    assert not hasattr(tick, "__dict__")
    assert tick == Tick(index=3, scheduled=3.0, lateness=0.0, skipped=2)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"interval": 0}, InvalidConfigError, "'interval' must be finite and > 0"),
        ({"interval": math.inf}, InvalidConfigError, "'interval' must be finite"),
        ({"interval": "1"}, WrongTypeError, "'interval' must be a real number"),
        ({"interval": 1, "jitter": 1}, InvalidConfigError, "'jitter' must be in"),
        ({"interval": 1, "run_on_start": 1}, WrongTypeError, "'run_on_start' must"),
        ({"interval": 1, "seed": 1.5}, WrongTypeError, "'seed' must be None or an"),
        ({"interval": 1, "seed": True}, WrongTypeError, "'seed' must be None or an"),
    ],
    ids=["zero", "inf", "str", "jitter", "run_on_start", "seed-float", "seed-bool"],
)
def test_bad_arguments_are_refused_at_the_call_by_name(
    kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    """ticks() checks every argument when called, naming the field and the value."""
    with pytest.raises(error) as caught:
        ticks(**kwargs)  # type: ignore[arg-type]
    assert str(caught.value).startswith(message)
    assert "(got " in str(caught.value)


@settings(max_examples=200)
@given(numbers, numbers)
def test_any_number_either_builds_or_is_refused_by_name(
    interval: float, jitter: float
) -> None:
    """Any interval and jitter build an iterator or raise a named config error."""
    refusal: Exception | None = None
    try:
        ticks(interval, jitter=jitter)
    except (InvalidConfigError, WrongTypeError) as exc:
        refusal = exc
    if refusal is None:
        assert 0 < interval < math.inf
        assert 0 <= jitter < 1
    else:
        assert str(refusal).startswith(("'interval' must", "'jitter' must"))
        assert len(str(refusal)) < MESSAGE_LIMIT


class Scenario(NamedTuple):
    """One drawn run of ticks(): its arguments and its bodies' durations."""

    interval: float
    jitter: float
    seed: int
    start: float
    run_on_start: bool
    bodies: list[float]


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    """Any valid ticks() arguments, a start instant and 1 to 40 bodies."""
    interval = draw(st.floats(min_value=1e-3, max_value=1e4))
    # Each body as a share of the interval: on time, overrunning, or far over.
    shares = st.lists(st.floats(min_value=0, max_value=5), min_size=1, max_size=40)
    return Scenario(
        interval=interval,
        jitter=draw(fractions),
        seed=draw(seeds),
        start=draw(st.floats(min_value=0, max_value=1e6)),
        run_on_start=draw(st.booleans()),
        bodies=[share * interval for share in draw(shares)],
    )


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_items_are_on_the_grid_increasing_and_count_their_skips(
    scenario: Scenario,
) -> None:
    """Instants lie in their band and increase; skips and lateness add up."""
    interval, jitter, seed, start, run_on_start, bodies = scenario
    half = jitter * interval / 2
    seen: list[tuple[Tick, float, float]] = []  # item, now at yield, body's end

    async def main() -> float:
        await trio.sleep(start)
        anchor = trio.current_time()
        async for tick in ticks(
            interval, jitter=jitter, run_on_start=run_on_start, seed=seed
        ):
            now = trio.current_time()
            await trio.sleep(bodies[len(seen)])
            seen.append((tick, now, trio.current_time()))
            if len(seen) == len(bodies):
                break
        return anchor

    anchor = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    first = seen[0][0]
    assert first.index == (0 if run_on_start else 1)
    assert first.skipped == 0
    previous_end = anchor
    previous: Tick | None = None
    for tick, now, end in seen:
        grid = anchor + tick.index * interval
        slack = 4 * math.ulp(abs(grid) + interval)
        assert abs(tick.scheduled - grid) <= half + slack
        assert tick.lateness == now - tick.scheduled
        assert 0 <= tick.lateness <= slack
        if previous is not None:
            assert tick.scheduled > previous.scheduled
            assert tick.index - previous.index == tick.skipped + 1
            # Only instants at or before the body's end are skipped: the
            # last skipped one's band starts there at the latest, and the
            # item handed out comes after it.
            assert tick.scheduled > previous_end
            if tick.skipped:
                due = anchor + (tick.index - 1) * interval - half
                assert due <= previous_end + slack
        previous, previous_end = tick, end
