"""SplitMix64, the per-loop jitter source: reference outputs and properties."""

from __future__ import annotations

import itertools
import statistics

from hypothesis import given
from hypothesis import strategies as st

from tests.strategies import seeds
from tickwork import TickSchedule
from tickwork._rng import SplitMix64


def test_matches_the_reference_outputs_for_seed_zero() -> None:
    """The first outputs for seed 0 are the published SplitMix64 values."""
    rng = SplitMix64(0)
    assert [rng.next64() for _ in range(3)] == [
        0xE220A8397B1DCDAF,
        0x6E789E6AA1B965F4,
        0x06C45D188009454F,
    ]


@given(seeds)
def test_same_seed_same_sequence(seed: int) -> None:
    """Two generators seeded alike give the same floats."""
    first, second = SplitMix64(seed), SplitMix64(seed)
    assert [first.random() for _ in range(20)] == [second.random() for _ in range(20)]


@given(seeds)
def test_random_is_in_the_unit_interval(seed: int) -> None:
    """random() lies in [0, 1)."""
    rng = SplitMix64(seed)
    assert all(0.0 <= rng.random() < 1.0 for _ in range(200))


@given(
    seeds,
    st.floats(min_value=-1e6, max_value=1e6),
    st.floats(min_value=0.0, max_value=1e6),
)
def test_uniform_stays_between_its_bounds(seed: int, low: float, width: float) -> None:
    """uniform(a, b) lies in [a, b] (to rounding), like random.Random.uniform."""
    rng = SplitMix64(seed)
    high = low + width
    slack = 1e-9 * max(1.0, abs(low), abs(high))
    assert all(low - slack <= rng.uniform(low, high) <= high + slack for _ in range(50))


@given(seeds)
def test_draws_are_spread_evenly(seed: int) -> None:
    """10 000 draws have mean 0.5 and each tenth holds about a tenth of them."""
    rng = SplitMix64(seed)
    draws = [rng.random() for _ in range(10_000)]
    # The standard deviation of the mean is ~0.003; 0.03 is ten of them.
    assert abs(statistics.fmean(draws) - 0.5) < 0.03
    counts = [0] * 10
    for draw in draws:
        counts[int(draw * 10)] += 1
    assert all(800 < count < 1200 for count in counts)


def test_keys_seed_stably_and_distinctly() -> None:
    """from_key gives the same generator for a key and different ones for others."""
    assert SplitMix64.from_key("7:a").next64() == SplitMix64.from_key("7:a").next64()
    assert SplitMix64.from_key("7:a").next64() != SplitMix64.from_key("7:b").next64()
    assert SplitMix64.from_entropy().next64() != SplitMix64.from_entropy().next64()


@given(seeds)
def test_tick_schedule_accepts_it_and_keeps_the_envelope(seed: int) -> None:
    """TickSchedule draws from SplitMix64 as from random.Random, inside its band."""
    schedule = TickSchedule(interval=2.0, jitter=0.5)
    points = list(itertools.islice(schedule.instants(0.0, SplitMix64(seed)), 100))
    assert all(abs(t - 2.0 * k) <= 0.5 for k, t in enumerate(points, start=1))
