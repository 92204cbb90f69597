"""Properties of Backoff, the pure exponential schedule."""

from __future__ import annotations

import itertools
import math
import random

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.strategies import MAX, MESSAGE_LIMIT, backoffs, numbers, seeds, sizes
from tickwork import Backoff, InvalidConfigError, WrongTypeError


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


# --- any number a caller may pass ---------------------------------------------


@st.composite
def extreme_backoffs(draw: st.DrawFn) -> Backoff:
    """Any valid Backoff, sizes and factors up to the largest float included."""
    initial = draw(sizes)
    cap = draw(st.floats(min_value=float(initial), max_value=MAX) | st.just(initial))
    factor = draw(st.floats(min_value=1.0, max_value=MAX) | st.integers(1, int(MAX)))
    jitter = draw(st.floats(min_value=0.0, max_value=1.0, exclude_max=True))
    return Backoff(initial=initial, factor=factor, cap=cap, jitter=jitter)


@pytest.mark.parametrize("field", ["initial", "factor", "cap", "jitter"])
@pytest.mark.parametrize("value", [2**2000, -(2**2000)], ids=["huge", "-huge"])
def test_ints_past_float_range_are_refused_not_overflowed(
    field: str, value: int
) -> None:
    """2**2000 in any field is an InvalidConfigError naming it, never OverflowError."""
    with pytest.raises(InvalidConfigError) as caught:
        Backoff(**{field: value})
    assert str(caught.value).startswith(f"'{field}' must be ")
    assert len(str(caught.value)) < MESSAGE_LIMIT


@pytest.mark.parametrize(
    "kwargs",
    [
        {"initial": "x" * 10_000},
        {"factor": "x" * 10_000},
        {"factor": 10**10_000 // 10**9_000},
        {"cap": "x" * 10_000},
        {"jitter": "x" * 10_000},
        {"initial": 10**300, "cap": 1},
    ],
    ids=["initial", "factor", "factor-huge", "cap", "jitter", "cap-below-initial"],
)
def test_messages_cut_a_huge_value(kwargs: dict[str, object]) -> None:
    """A value with a 10 000-character repr shows at most 200 characters."""
    with pytest.raises((InvalidConfigError, WrongTypeError)) as caught:
        Backoff(**kwargs)  # type: ignore[arg-type]
    assert len(str(caught.value)) < MESSAGE_LIMIT


@given(numbers, numbers, numbers, numbers)
@example(2**2000, 3, 300, 0.2)
@example(1e308, 1e308, MAX, 0.99)
def test_any_numbers_build_or_raise_a_named_config_error(
    initial: float, factor: float, cap: float, jitter: float
) -> None:
    """Backoff(...) of any numbers builds or raises a named config error, no other."""
    refusal: Exception | None = None
    try:
        Backoff(initial=initial, factor=factor, cap=cap, jitter=jitter)
    except (InvalidConfigError, WrongTypeError) as exc:
        refusal = exc
    if refusal is not None:
        assert str(refusal).startswith(("'initial'", "'factor'", "'cap'", "'jitter'"))
        assert len(str(refusal)) < MESSAGE_LIMIT


@given(extreme_backoffs(), seeds)
@example(Backoff(initial=1e308, factor=1e308, cap=MAX, jitter=0.999), 0)
@example(Backoff(initial=10**308, factor=10**308, cap=MAX, jitter=0.5), 0)
@example(Backoff(initial=5e-324, factor=1, cap=5e-324, jitter=0.9), 0)
@example(Backoff(initial=11133510565745311, factor=1, cap=11133510565745311), 0)
def test_delays_are_finite_non_negative_and_capped_for_any_valid_config(
    backoff: Backoff, seed: int
) -> None:
    """No valid Backoff ever yields inf, nan, a negative wait or one past the cap.

    The cap is the float the schedule computes with: an int cap past 2**53
    (11133510565745311, found by Hypothesis) rounds to its nearest float.
    """
    cap = float(backoff.cap)
    for delay in itertools.islice(backoff.delays(random.Random(seed)), 300):
        assert isinstance(delay, float)
        assert math.isfinite(delay)
        assert 0 <= delay <= cap
    for base in itertools.islice(backoff.bases(), 300):
        assert isinstance(base, float)
        assert 0 < base <= cap


class WildJitter:
    """A caller's jitter source that returns garbage: nan, infinities, negatives."""

    def __init__(self) -> None:
        """Cycle through the garbage."""
        self._values = itertools.cycle([math.nan, math.inf, -math.inf, -1.0, 1e308])

    def uniform(self, a: float, b: float) -> float:
        """Anything but a number in [a, b]."""
        return next(self._values)


def test_a_bad_jitter_source_cannot_push_a_wait_out_of_its_envelope() -> None:
    """Whatever uniform() returns, each wait stays in [base * (1 - jitter), cap]."""
    backoff = Backoff(initial=10, factor=2, cap=40, jitter=0.5)
    delays = list(itertools.islice(backoff.delays(WildJitter()), 10))
    bases = list(itertools.islice(backoff.bases(), 10))
    assert all(
        base * 0.5 <= delay <= 40 for base, delay in zip(bases, delays, strict=True)
    )


@pytest.mark.parametrize("jitter", [0, 0.2])
@pytest.mark.parametrize("rng", [5, "seed", object()], ids=["int", "str", "object"])
def test_delays_refuse_an_rng_without_uniform(jitter: float, rng: object) -> None:
    """delays(rng) needs None or an object with uniform(a, b), even without jitter."""
    with pytest.raises(WrongTypeError) as caught:
        Backoff(jitter=jitter).delays(rng)  # type: ignore[arg-type]
    assert str(caught.value).startswith("'rng' must be None or an object with")
