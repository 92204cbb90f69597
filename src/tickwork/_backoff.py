"""Backoff: the pure, capped, jittered exponential schedule of waits."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any, cast

import attrs

from tickwork._errors import InvalidConfigError, WrongTypeError
from tickwork._text import brief
from tickwork._validation import (
    attrs_at_least,
    attrs_fraction,
    attrs_positive,
    check_number,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tickwork._rng import JitterSource


def _cap(inst: Backoff, _attribute: attrs.Attribute[Any], value: object) -> None:
    """Require a number >= ``initial`` (already checked finite and > 0)."""
    # Compared as the floats the schedule computes with: an int cap equal to
    # an int initial past 2**53 must not be refused for rounding.
    if check_number("cap", value) < check_number("initial", inst.initial):
        msg = f"'cap' must be >= 'initial' ({brief(inst.initial)}) (got {brief(value)})"
        raise InvalidConfigError(msg)


def check_rng(rng: object) -> JitterSource | None:
    """Require None or a source of jitter: an object with a callable ``uniform``.

    A `random.Random` qualifies, and so does anything with a
    ``uniform(a, b)`` method.

    Raises:
        WrongTypeError: *rng* is neither.
    """
    if rng is not None and not callable(getattr(rng, "uniform", None)):
        msg = (
            "'rng' must be None or an object with a uniform(a, b) method, such "
            f"as a random.Random (got {brief(rng)})"
        )
        raise WrongTypeError(msg)
    return cast("JitterSource | None", rng)


@attrs.frozen(kw_only=True)
class Backoff:
    """The waits between attempts of `poll`: exponential, capped, jittered.

    The bases grow as ``initial``, ``initial * factor``, ... up to ``cap`` and
    stay there. Each wait is drawn uniformly from
    ``[base * (1 - jitter), min(base * (1 + jitter), cap)]``, so:

    - ``cap`` is a hard bound on every wait, jitter included;
    - jitter still spreads the waits at the cap (downwards), so replicas that
      started together stay apart there too.

    The defaults give 5 s, 15 s, 45 s, 135 s, 300 s, 300 s, ... each within
    20 %.

    Args:
        initial: the first base wait; finite and > 0.
        factor: growth per attempt; finite and >= 1 (1 = constant waits).
        cap: the largest wait; finite and >= ``initial``.
        jitter: the spread as a fraction of the base, in [0, 1).

    Ints are accepted; one past the float range (``2**2000``) counts as
    infinite and is refused. Any valid fields work up to the largest float:
    a product that overflows is brought back to ``cap``.

    Raises:
        InvalidConfigError: a value is out of range (a `ValueError`).
        WrongTypeError: a value is not a real number (a `TypeError`).

    Example:
        >>> list(zip(range(6), Backoff(jitter=0).delays()))
        [(0, 5.0), (1, 15.0), (2, 45.0), (3, 135.0), (4, 300.0), (5, 300.0)]
    """

    initial: float = attrs.field(default=5.0, validator=attrs_positive)
    factor: float = attrs.field(default=3.0, validator=attrs_at_least(1))
    cap: float = attrs.field(default=300.0, validator=[attrs_positive, _cap])
    jitter: float = attrs.field(default=0.2, validator=attrs_fraction)

    def bases(self) -> Iterator[float]:
        """Yield the un-jittered waits: non-decreasing, then ``cap`` forever.

        Each is a finite float > 0 (fields given as ints are converted), for
        any valid fields, up to the largest float.
        """
        # Validation guarantees each converts to a finite float.
        base, factor, cap = float(self.initial), float(self.factor), float(self.cap)
        while True:
            yield base
            # base * factor may overflow to inf; min() brings it back to cap.
            base = min(base * factor, cap)

    def delays(self, rng: JitterSource | None = None) -> Iterator[float]:
        """Yield the waits between attempts, forever.

        Every wait lies in ``[base * (1 - jitter), cap]``: never NaN,
        infinite or negative, whatever the fields (up to the largest float)
        and whatever number *rng* returns.

        Args:
            rng: the source of jitter: a `random.Random` or any object with a
                ``uniform(a, b)`` method; the same seeded rng gives the same
                waits. None uses a fresh, OS-seeded `random.Random`. With
                ``jitter == 0`` the waits are exactly the bases and *rng* is
                not used (but still checked).

        Raises:
            WrongTypeError: *rng* is neither None nor has a callable
                ``uniform`` (checked at the call, not at the first wait).
        """
        source = check_rng(rng)
        if self.jitter == 0:
            return self.bases()
        if source is None:
            source = random.Random()  # noqa: S311 - jitter, not crypto
        return self._jittered(source)

    def _jittered(self, rng: JitterSource) -> Iterator[float]:
        jitter, cap = float(self.jitter), float(self.cap)
        for base in self.bases():
            # Both bounds are finite and >= 0: base <= cap, and min() brings
            # an overflowing base * (1 + jitter) back to the cap.
            low = base * (1 - jitter)
            high = min(base * (1 + jitter), cap)
            # Clamped into [low, high], so the cap stays a hard bound even
            # where uniform() rounds one ulp past `high`, or a caller's own
            # source returns NaN (max() then keeps `low`) or an infinity.
            yield max(low, min(rng.uniform(low, high), high))
