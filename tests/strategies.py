"""Hypothesis strategies for tickwork's configuration objects."""

from __future__ import annotations

import sys

from hypothesis import strategies as st

from tickwork import Backoff, TickSchedule
from tickwork._grid import WindowGrid

# Intervals from a microsecond to ~115 days; anchors anywhere a clock may be
# (Trio's real clock starts at a large random offset).
intervals = st.floats(min_value=1e-6, max_value=1e7, allow_nan=False)
anchors = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False)
fractions = st.floats(min_value=0.0, max_value=1.0, exclude_max=True)
seeds = st.integers(min_value=0, max_value=2**64)

MAX = sys.float_info.max
# Anything a caller might pass where a number belongs, ints past float range too.
numbers = (
    st.floats()
    | st.integers()
    | st.integers(min_value=-(2**2048), max_value=2**2048)
    | st.booleans()
)
# Valid sizes from the smallest subnormal to the largest float, as floats or
# as ints (a huge int still within float range is valid).
sizes = st.floats(min_value=5e-324, max_value=MAX) | st.integers(
    min_value=1, max_value=int(MAX)
)
# Messages show at most 200 characters of a value (tickwork._text.brief).
MESSAGE_LIMIT = 300


@st.composite
def tick_schedules(
    draw: st.DrawFn, *, jitter: st.SearchStrategy[float] = fractions
) -> TickSchedule:
    """Any valid TickSchedule."""
    return TickSchedule(interval=draw(intervals), jitter=draw(jitter))


@st.composite
def backoffs(draw: st.DrawFn) -> Backoff:
    """Any valid Backoff: initial <= cap, factor >= 1."""
    initial = draw(st.floats(min_value=1e-3, max_value=1e4))
    cap = draw(st.floats(min_value=initial, max_value=1e6))
    factor = draw(st.floats(min_value=1.0, max_value=100.0))
    return Backoff(initial=initial, factor=factor, cap=cap, jitter=draw(fractions))


# Window grids: wall-clock anchors and instants (the Unix epoch give or take
# ~300 years), intervals from the 1 ms minimum to a year, any window index.
wall = st.floats(min_value=-1e10, max_value=1e10)
intervals_wall = st.floats(min_value=1e-3, max_value=3.2e7)
fractions99 = st.floats(min_value=0.0, max_value=0.99)
keys = st.text(max_size=40)
indices = st.integers(min_value=-(10**6), max_value=10**9)


@st.composite
def grids(draw: st.DrawFn) -> WindowGrid:
    """Any valid WindowGrid in the wall-clock range."""
    return WindowGrid(
        interval=draw(intervals_wall),
        jitter=draw(fractions99),
        anchor=draw(wall),
        key=draw(keys),
    )
