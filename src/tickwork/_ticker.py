"""TickSchedule: the pure, drift-free, jittered ticker.

A loop anchored at ``anchor`` fires at::

    t_k = anchor + k * interval + d_k
    d_k uniform in [-jitter * interval / 2, +jitter * interval / 2]

Each instant is computed from the anchor, never from the previous instant, so
the phase error stays inside the jitter band however long the loop runs (a
bounded error, not a random walk). Nothing here reads a clock or the global
`random`: time and randomness are arguments.
"""

from __future__ import annotations

import math
import random
from fractions import Fraction
from typing import TYPE_CHECKING, Final, NamedTuple

import attrs

from tickwork._validation import attrs_fraction, attrs_positive

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tickwork._rng import JitterSource

_CATCH_UP_STEPS: Final = 16
"""How many indices `TickSchedule.skip_missed` tries one by one after its
jump. Three always suffice where floats resolve the grid (jitter < 1 keeps
each band narrower than the interval); more means consecutive instants round
to one float, and it stops trying."""


class Missed(NamedTuple):
    """What a late consumer does: the result of `TickSchedule.skip_missed`."""

    skipped: int
    """How many instants at or before ``now`` are skipped (never replayed)."""
    next_index: int
    """Index k of the first instant after ``now``."""
    next_instant: float
    """That instant, t_k > now."""


@attrs.frozen(kw_only=True)
class TickSchedule:
    """When a periodic loop fires: a fixed grid plus bounded jitter.

    Args:
        interval: seconds between nominal instants; finite and > 0. An int
            is accepted; one past the float range (``2**2000``) counts as
            infinite and is refused.
        jitter: the spread of each instant around its grid point, as a
            fraction of ``interval``, in [0, 1). Each instant moves by at most
            ``jitter * interval / 2`` either way, so every gap lies in
            ``[interval * (1 - jitter), interval * (1 + jitter)]``.

    Any valid interval works, up to the largest float: an instant past the
    float range is ``inf``, that is never (with ``interval=1e308`` that is
    already t_2).

    Raises:
        InvalidConfigError: a value is out of range (a `ValueError`).
        WrongTypeError: a value is not a real number (a `TypeError`).

    Example:
        >>> import random
        >>> schedule = TickSchedule(interval=10.0, jitter=0.0)
        >>> ticks = schedule.instants(100.0)
        >>> [next(ticks) for _ in range(3)]
        [110.0, 120.0, 130.0]
        >>> schedule = TickSchedule(interval=10.0, jitter=0.2)
        >>> jittered = schedule.instants(0.0, random.Random(1))
        >>> all(-1.0 <= next(jittered) - 10.0 * k <= 1.0 for k in range(1, 100))
        True
    """

    interval: float = attrs.field(validator=attrs_positive)
    jitter: float = attrs.field(default=0.1, validator=attrs_fraction)
    _step: float = attrs.field(init=False, repr=False, eq=False)
    _half: float = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        # Validators have run, so both convert to finite floats (an int
        # interval too; int arithmetic with an index could overflow a float
        # later), and the half band is a finite float in [0, interval / 2).
        step = float(self.interval)
        object.__setattr__(self, "_step", step)
        object.__setattr__(self, "_half", float(self.jitter) * step / 2)

    @property
    def spread(self) -> float:
        """The largest distance, in seconds, of an instant from its grid point."""
        return self._half

    def instant(self, anchor: float, index: int, rng: JitterSource) -> float:
        """Return instant t_index, drawing its jitter from *rng*.

        With ``jitter == 0`` this is exactly ``anchor + index * interval`` and
        *rng* is not touched. Each call draws afresh: call it once per index.
        Past the float range the instant is ``inf`` (never); it is never NaN
        for a finite *anchor*.
        """
        try:
            nominal = anchor + index * self._step
        except OverflowError:
            # An index past the float range, as `skip_missed` may give for a
            # grid far finer than the clock: the exact sum, rounded once.
            nominal = _exact_nominal(anchor, index, self._step)
        if self._half == 0:
            return nominal
        return nominal + rng.uniform(-self._half, self._half)

    def instants(
        self, anchor: float, rng: JitterSource | None = None
    ) -> Iterator[float]:
        """Yield the fire instants t_1, t_2, ... of a loop anchored at *anchor*.

        t_0 = anchor itself (the optional run-at-start) is not yielded. The
        sequence is strictly increasing from the anchor on, even where float
        rounding would tie two neighbours (then the later one moves up by one
        ulp), until it passes the largest float: from there on it is ``inf``.

        Args:
            anchor: the loop's start on the consumer's clock.
            rng: the source of jitter: a `random.Random`, or anything with
                its ``uniform(a, b)``; the same seeded rng gives the same
                sequence. None uses a fresh, OS-seeded `random.Random`.
        """
        source = random.Random() if rng is None else rng  # noqa: S311 - jitter, not crypto
        previous = anchor
        index = 1
        while True:
            instant = self.instant(anchor, index, source)
            if instant <= previous:
                instant = math.nextafter(previous, math.inf)
            yield instant
            previous = instant
            index += 1

    def skip_missed(
        self,
        anchor: float,
        index: int,
        instant: float,
        now: float,
        rng: JitterSource,
    ) -> Missed:
        """Skip every instant at or before *now* (the *skip* missed-tick policy).

        Given the next unfired instant (its *index* and *instant*, as drawn
        with `instant`) and the consumer's *now*, return how many instants
        ``<= now`` are skipped and the first instant ``> now``. Skipped
        instants are never replayed, as with Tokio's
        ``MissedTickBehavior::Skip``. When *instant* is still ahead
        (``instant > now``) nothing is skipped and it is returned unchanged.

        The cost is O(1) however far behind the consumer is: indices whose
        whole jitter band lies before *now* are skipped by arithmetic, and
        jitter is drawn only for the one or two indices near *now*.

        *anchor* and *now* are finite clock readings, anywhere in the float
        range. Where the grid is finer than the floats near *now* (an
        interval far below one ulp of the clock), consecutive instants round
        to the same float; then the next instant is the float just after
        *now*, as in `instants`, so a consumer keeps running back to back
        and never waits for a float that cannot come.

        Example: interval 1, jitter 0, a run from 0 that ends at 1.2 with
        next instant t_1 = 1.0 skips one instant and resumes at t_2 = 2.0.
        """
        if instant > now:
            return Missed(0, index, instant)
        # Every index below `first` has its whole band [t - half, t + half]
        # at or before now; floor() keeps the jump conservative under rounding.
        behind: float | Fraction = (now - anchor - self._half) / self._step
        if not math.isfinite(behind):
            # now - anchor, or its quotient by a tiny interval, passed the
            # float range: the same jump in exact arithmetic.
            behind = (Fraction(now) - Fraction(anchor) - Fraction(self._half)) / (
                Fraction(self._step)
            )
        first = max(index + 1, math.floor(behind))
        for _ in range(_CATCH_UP_STEPS):
            candidate = self.instant(anchor, first, rng)
            if candidate > now:
                return Missed(first - index, first, candidate)
            first += 1
        return Missed(first - index, first, math.nextafter(now, math.inf))


def _exact_nominal(anchor: float, index: int, step: float) -> float:
    """``anchor + index * step`` for an index past the float range."""
    try:
        return float(Fraction(anchor) + index * Fraction(step))
    except OverflowError:
        return math.inf if index > 0 else -math.inf
