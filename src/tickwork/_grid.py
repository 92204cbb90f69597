"""WindowGrid: wall-clock windows with a keyed-hash jitter, the same on every replica.

Window *k* of a schedule starts at ``start_k = anchor + k * interval`` and
fires at ``fire_k = start_k + d_k``, with ``d_k`` in
``[-jitter * interval / 2, +jitter * interval / 2]`` as in `TickSchedule`.
The offset is not drawn from a generator that advances: it is a keyed hash
of the schedule's key and *k* (output *k* of SplitMix64 seeded by the key),
so every replica computes the same instants with no shared state, and
jumping over any number of windows costs two hashes and draws nothing.
A window is named by its index, or by its nominal start.

Pure: no trio, no clock. Times are floats on whatever clock the caller uses
(seconds since the Unix epoch for wall-clock schedules).
"""

from __future__ import annotations

import math
from typing import Final, final

import attrs

from tickwork._errors import WrongTypeError
from tickwork._rng import key64, keyed_unit
from tickwork._text import brief
from tickwork._validation import (
    attrs_at_least,
    attrs_finite,
    attrs_fraction,
    check_finite,
)

MIN_INTERVAL: Final = 0.001
"""The shortest interval, in seconds, as for a `Loop`."""
_MAX_STEPS: Final = 64


def _key(_inst: object, _attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str):
        msg = f"'key' must be a str (got {brief(value)})"
        raise WrongTypeError(msg)


@final
@attrs.frozen(kw_only=True)
class WindowGrid:
    """The windows of one schedule: a fixed grid plus a keyed, bounded jitter.

    Args:
        interval: seconds between window starts; finite and >= 0.001.
        jitter: the spread of each fire instant around its window's start, as
            a fraction of *interval*, in [0, 1).
        anchor: the start of window 0; finite. Replicas must share it (a
            wall-clock grid uses the Unix epoch plus a phase).
        key: names the schedule's jitter; replicas with the same key agree on
            every instant, and different keys spread apart.

    Example:
        >>> grid = WindowGrid(interval=60, jitter=0.1, anchor=0, key="7:renew")
        >>> again = WindowGrid(interval=60, jitter=0.1, anchor=0, key="7:renew")
        >>> [grid.fire(k) == again.fire(k) for k in (0, 1, 10**9)]
        [True, True, True]
        >>> abs(grid.fire(1000) - 60_000) <= 3
        True
        >>> grid.first_after(grid.fire(5))
        6
    """

    interval: float = attrs.field(validator=attrs_at_least(MIN_INTERVAL))
    jitter: float = attrs.field(default=0.0, validator=attrs_fraction)
    anchor: float = attrs.field(default=0.0, validator=attrs_finite)
    key: str = attrs.field(default="", validator=_key)
    _step: float = attrs.field(init=False, repr=False, eq=False)
    _half: float = attrs.field(init=False, repr=False, eq=False)
    _hash: int = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        # Validators have run: finite floats, so the products below are too.
        step = float(self.interval)
        object.__setattr__(self, "_step", step)
        object.__setattr__(self, "_half", float(self.jitter) * step / 2)
        object.__setattr__(self, "_hash", key64(self.key))

    @property
    def spread(self) -> float:
        """The largest distance, in seconds, of a fire instant from its start."""
        return self._half

    def start(self, index: int) -> float:
        """The nominal start of window *index*: ``anchor + index * interval``."""
        return self.anchor + index * self._step

    def offset(self, index: int) -> float:
        """The jitter of window *index*, in ``[-spread, +spread]``."""
        if self._half == 0:
            return 0.0
        return (2 * keyed_unit(self._hash, index) - 1) * self._half

    def fire(self, index: int) -> float:
        """The fire instant of window *index*: its start plus its offset.

        Strictly increasing in *index*: where float rounding would tie two
        neighbours (an interval near the clock's resolution), the later one
        moves up by one ulp.
        """
        instant = self._raw(index)
        previous = self._raw(index - 1)
        return instant if instant > previous else math.nextafter(previous, math.inf)

    def _raw(self, index: int) -> float:
        return self.anchor + index * self._step + self.offset(index)

    def first_after(self, now: float) -> int:
        """The index of the first window whose fire instant is after *now*.

        O(1) however far *now* is from the anchor: at most a few hashes.

        Raises:
            InvalidConfigError: *now* is not finite.
        """
        position = check_finite("now", now)
        # Every window below `index` has its whole band at or before now, so
        # one or two steps up find the answer; the bound only matters where
        # the interval is below the float resolution of now (|now| past
        # 2**40 s at 1 ms), and keeps even that O(1).
        index = math.floor((position - self.anchor - self._half) / self._step)
        for _ in range(_MAX_STEPS):
            if self.fire(index) > position:
                break
            index += 1
        for _ in range(_MAX_STEPS):
            if self.fire(index - 1) <= position:
                break
            index -= 1
        return index

    def last_due(self, now: float) -> int:
        """The index of the latest window whose fire instant is at or before *now*."""
        return self.first_after(now) - 1

    def following(self, index: int) -> int:
        """The window after window *index* (as `CalendarGrid.following`)."""
        return index + 1

    def count(self, low: int, high: int) -> int:
        """How many windows from *low* on come before window *high*."""
        return max(0, high - low)

    def step(self, _index: int) -> int:
        """Microseconds from a window to the next one: the interval."""
        return round(self._step * 1_000_000)

    def index_of(self, window: int) -> int:
        """The index of the window whose nominal start is *window* µs."""
        return round((window / 1_000_000 - self.anchor) / self._step)
