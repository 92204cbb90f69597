"""Properties of Backoff, the pure exponential schedule (SPEC 1.2)."""

from __future__ import annotations

import itertools
import math
import random

from hypothesis import given
from hypothesis import strategies as st

from tests.strategies import backoffs, seeds
from tickwork import Backoff


def _take(backoff: Backoff, seed: int, count: int = 60) -> list[float]:
    return list(itertools.islice(backoff.delays(random.Random(seed)), count))


def test_defaults_give_the_documented_bases() -> None:
    """5 s, 15 s, 45 s, 135 s, then 300 s for ever."""
    bases = list(itertools.islice(Backoff().bases(), 8))
    assert bases == [5.0, 15.0, 45.0, 135.0, 300.0, 300.0, 300.0, 300.0]


@given(backoffs())
def test_bases_start_at_initial_grow_monotonically_and_reach_the_cap(
    backoff: Backoff,
) -> None:
    """Bases never decrease, never pass the cap, and stay at the cap once there."""
    bases = list(itertools.islice(backoff.bases(), 200))
    assert bases[0] == backoff.initial
    assert all(b >= a for a, b in itertools.pairwise(bases))
    assert all(base <= backoff.cap for base in bases)
    # Growth of at least 1.1 that covers cap / initial within 190 of the 200
    # steps must have reached the cap (cap / initial can be 1e9 > 1.1 ** 199).
    fast_enough = backoff.factor >= 1.1 and (
        math.log(backoff.cap / backoff.initial) <= 190 * math.log(backoff.factor)
    )
    if fast_enough:
        assert bases[-1] == backoff.cap


@given(backoffs(), seeds)
def test_every_delay_lies_in_its_envelope_and_never_passes_the_cap(
    backoff: Backoff, seed: int
) -> None:
    """delay_k in [base_k*(1-jitter), min(base_k*(1+jitter), cap)]; the cap is exact."""
    for base, delay in zip(backoff.bases(), _take(backoff, seed), strict=False):
        low = base * (1 - backoff.jitter)
        high = min(base * (1 + backoff.jitter), backoff.cap)
        assert delay <= backoff.cap
        assert low - 4 * math.ulp(base) <= delay <= high + 4 * math.ulp(base)


@given(backoffs(), seeds)
def test_same_seed_same_delays(backoff: Backoff, seed: int) -> None:
    """Two rngs seeded alike give the same waits."""
    assert _take(backoff, seed) == _take(backoff, seed)


@given(backoffs())
def test_zero_jitter_gives_exactly_the_bases(backoff: Backoff) -> None:
    """With jitter 0 the waits are the bases, and no rng is needed."""
    exact = Backoff(
        initial=backoff.initial, factor=backoff.factor, cap=backoff.cap, jitter=0
    )
    assert list(itertools.islice(exact.delays(), 50)) == list(
        itertools.islice(exact.bases(), 50)
    )


@given(seeds, st.floats(min_value=0.05, max_value=0.99))
def test_jitter_still_spreads_the_waits_at_the_cap(seed: int, jitter: float) -> None:
    """At the cap the waits differ (downwards), so replicas stay de-synchronised."""
    backoff = Backoff(initial=10, factor=2, cap=10, jitter=jitter)
    delays = _take(backoff, seed, 30)
    assert all(10 * (1 - jitter) - 1e-12 <= d <= 10 for d in delays)
    assert len(set(delays)) > 1


def test_huge_factor_does_not_overflow() -> None:
    """A factor large enough to overflow the product still yields the cap."""
    backoff = Backoff(initial=1e300, factor=1e300, cap=1e308, jitter=0)
    assert list(itertools.islice(backoff.bases(), 3)) == [1e300, 1e308, 1e308]
