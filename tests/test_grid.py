"""Properties of WindowGrid: the keyed-hash window grid every replica computes alike."""

from __future__ import annotations

import itertools
import math
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.strategies import fractions99, grids, indices, intervals_wall, keys, wall
from tickwork import InvalidConfigError, WrongTypeError
from tickwork._grid import WindowGrid


def slack(grid: WindowGrid, k: int) -> float:
    """Rounding room: a few ulps of the largest term in anchor + k * interval."""
    terms = (abs(grid.anchor), abs(k * grid.interval), abs(grid.start(k)))
    return 4 * math.ulp(max(*terms, 1.0))


@given(grids(), indices)
def test_every_fire_instant_lies_in_its_windows_band(grid: WindowGrid, k: int) -> None:
    """|fire_k - start_k| <= jitter * interval / 2: no drift, however far out."""
    fire, start = grid.fire(k), grid.start(k)
    assert abs(fire - start) <= grid.spread + slack(grid, k)
    assert start == grid.anchor + k * grid.interval


@given(grids(), indices)
def test_every_gap_lies_in_the_envelope(grid: WindowGrid, k: int) -> None:
    """Each gap lies in [interval * (1 - jitter), interval * (1 + jitter)]."""
    gap = grid.fire(k + 1) - grid.fire(k)
    room = slack(grid, k + 1)
    assert gap > 0
    assert grid.interval * (1 - grid.jitter) - room <= gap
    assert gap <= grid.interval * (1 + grid.jitter) + room


@given(grids(), indices, st.integers(min_value=1, max_value=50))
def test_fire_instants_strictly_increase(grid: WindowGrid, k: int, run: int) -> None:
    """fire_k < fire_{k+1}, even where rounding would tie two neighbours."""
    fires = [grid.fire(i) for i in range(k, k + run + 1)]
    assert all(a < b for a, b in itertools.pairwise(fires))


@given(
    intervals_wall, fractions99, wall, keys, st.lists(indices, min_size=1, max_size=20)
)
def test_two_replicas_agree_on_every_instant(
    interval: float, jitter: float, anchor: float, key: str, ks: list[int]
) -> None:
    """Two grids built apart from the same settings give the same instants.

    In any order of queries: nothing is drawn, so nothing depends on history.
    """
    first = WindowGrid(interval=interval, jitter=jitter, anchor=anchor, key=key)
    second = WindowGrid(interval=interval, jitter=jitter, anchor=anchor, key=key)
    forward = [first.fire(k) for k in ks]
    backward = [second.fire(k) for k in reversed(ks)]
    assert forward == backward[::-1]


@given(grids(), wall)
def test_first_after_is_the_first_window_past_now(grid: WindowGrid, now: float) -> None:
    """first_after(now) = k with fire_{k-1} <= now < fire_k; last_due is k - 1."""
    k = grid.first_after(now)
    assert grid.fire(k - 1) <= now < grid.fire(k)
    assert grid.last_due(now) == k - 1


@given(grids(), indices)
def test_first_after_a_fire_instant_is_the_next_window(
    grid: WindowGrid, k: int
) -> None:
    """At its own fire instant a window is due; the next one is not yet."""
    assert grid.first_after(grid.fire(k)) == k + 1


@given(intervals_wall, wall, keys, indices)
def test_zero_jitter_is_exactly_the_grid(
    interval: float, anchor: float, key: str, k: int
) -> None:
    """With jitter 0 every window fires at its start, bit for bit."""
    grid = WindowGrid(interval=interval, anchor=anchor, key=key)
    start = anchor + k * interval
    assert grid.offset(k) == 0.0
    previous = anchor + (k - 1) * interval
    assert grid.fire(k) == (
        start if start > previous else math.nextafter(previous, math.inf)
    )


def test_offsets_spread_over_the_band_and_keys_decorrelate() -> None:
    """Offsets of one key fill the band with mean ~0; two keys differ."""
    one = WindowGrid(interval=10, jitter=0.5, key="1:a")
    other = WindowGrid(interval=10, jitter=0.5, key="1:b")
    offsets = [one.offset(k) for k in range(20_000)]
    assert min(offsets) < -2.4
    assert max(offsets) > 2.4
    assert abs(statistics.fmean(offsets)) < 0.05
    same = sum(one.offset(k) == other.offset(k) for k in range(1000))
    assert same == 0


def test_skipping_any_number_of_windows_costs_the_same() -> None:
    """A window a billion intervals out is as cheap and exact as the next one."""
    grid = WindowGrid(interval=1, jitter=0.2, anchor=1_700_000_000, key="k")
    far = 10**9
    assert abs(grid.fire(far) - (1_700_000_000 + far)) <= 0.1
    assert grid.first_after(grid.fire(far) - 1e-3) == far


@pytest.mark.parametrize(
    ("fields", "error", "fragment"),
    [
        (
            {"interval": 0.0005},
            InvalidConfigError,
            "'interval' must be finite and >= 0.001",
        ),
        ({"interval": 2**2000}, InvalidConfigError, "'interval' must be finite"),
        ({"jitter": 1}, InvalidConfigError, "'jitter' must be in [0, 1)"),
        ({"anchor": math.inf}, InvalidConfigError, "'anchor' must be a finite number"),
        ({"anchor": "0"}, WrongTypeError, "'anchor' must be a real number"),
        ({"key": 7}, WrongTypeError, "'key' must be a str (got 7)"),
    ],
)
def test_bad_settings_are_refused_by_name(
    fields: dict[str, object], error: type[Exception], fragment: str
) -> None:
    """Each field names its rule and the value."""
    settings: dict[str, object] = {"interval": 1.0, **fields}
    with pytest.raises(error) as caught:
        WindowGrid(**settings)  # type: ignore[arg-type]
    assert fragment in str(caught.value)


def test_now_must_be_finite() -> None:
    """first_after(nan) is refused by name, not an endless search."""
    grid = WindowGrid(interval=1)
    with pytest.raises(InvalidConfigError, match="'now' must be a finite number"):
        grid.first_after(math.nan)
