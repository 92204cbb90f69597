"""Backoff: the pure, capped, jittered exponential schedule of waits."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

import attrs

from tickwork._errors import InvalidConfigError
from tickwork._validation import attrs_fraction, attrs_positive, check_number

if TYPE_CHECKING:
    from collections.abc import Iterator


def _factor(_inst: object, _attribute: attrs.Attribute[Any], value: object) -> None:
    number = check_number("factor", value)
    if not 1 <= number < float("inf"):
        msg = f"'factor' must be finite and >= 1 (got {value!r})"
        raise InvalidConfigError(msg)


def _cap(inst: Backoff, _attribute: attrs.Attribute[Any], value: object) -> None:
    cap = check_number("cap", value)
    if cap < inst.initial:
        msg = f"'cap' must be >= 'initial' ({inst.initial!r}) (got {value!r})"
        raise InvalidConfigError(msg)


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

    Raises:
        InvalidConfigError: a value is out of range (a `ValueError`).
        WrongTypeError: a value is not a real number (a `TypeError`).

    Example:
        >>> list(zip(range(6), Backoff(jitter=0).delays()))
        [(0, 5.0), (1, 15.0), (2, 45.0), (3, 135.0), (4, 300.0), (5, 300.0)]
    """

    initial: float = attrs.field(default=5.0, validator=attrs_positive)
    factor: float = attrs.field(default=3.0, validator=_factor)
    cap: float = attrs.field(default=300.0, validator=[attrs_positive, _cap])
    jitter: float = attrs.field(default=0.2, validator=attrs_fraction)

    def bases(self) -> Iterator[float]:
        """Yield the un-jittered waits: non-decreasing, then ``cap`` forever."""
        base = float(self.initial)
        while True:
            yield base
            # min() first: base * factor may overflow to inf, cap never does.
            base = min(base * self.factor, self.cap)

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """Yield the waits between attempts, forever.

        Args:
            rng: the source of jitter; the same seeded rng gives the same
                waits. None uses a fresh, OS-seeded `random.Random`. With
                ``jitter == 0`` the waits are exactly the bases.
        """
        if self.jitter == 0:
            return self.bases()
        source = random.Random() if rng is None else rng  # noqa: S311 - jitter, not crypto
        return self._jittered(source)

    def _jittered(self, rng: random.Random) -> Iterator[float]:
        cap = float(self.cap)
        for base in self.bases():
            low = base * (1 - self.jitter)
            high = min(base * (1 + self.jitter), cap)
            # uniform() may round one ulp past `high`; the cap is a hard bound.
            yield min(rng.uniform(low, high), cap)
