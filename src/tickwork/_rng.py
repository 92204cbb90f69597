"""A small seeded source of jitter: SplitMix64, one 64-bit integer of state.

A `Scheduler` gives every loop its own generator so that a seed reproduces
each loop's jitter regardless of how Trio orders tasks. `random.Random` would
do, but its Mersenne Twister state is ~2.5 KB per instance: with tens of
thousands of loops that is most of a loop's memory. SplitMix64 (Steele, Lea
and Flood, "Fast splittable pseudorandom number generators", OOPSLA 2014;
the seeding generator of xoshiro) keeps 8 bytes of state, passes BigCrush,
and is more than random enough to spread wake-ups.
"""

from __future__ import annotations

import hashlib
import os
from typing import Final, Protocol, final

_MASK: Final = (1 << 64) - 1
_GOLDEN: Final = 0x9E3779B97F4A7C15
_MIX1: Final = 0xBF58476D1CE4E5B9
_MIX2: Final = 0x94D049BB133111EB
_TO_UNIT: Final = 2.0**-53


def mix64(value: int) -> int:
    """SplitMix64's output function: a bijective scramble of 64 bits."""
    z = ((value ^ (value >> 30)) * _MIX1) & _MASK
    z = ((z ^ (z >> 27)) * _MIX2) & _MASK
    return z ^ (z >> 31)


def key64(key: str) -> int:
    """A stable 64-bit number for a text key (the same on every machine)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")


def keyed_unit(key: int, index: int) -> float:
    """A float in [0, 1): output *index* of the SplitMix64 stream of *key*.

    Stateless, so any index costs the same and replicas that share the key
    agree on every output; negative indices are fine.
    """
    return (mix64((key + (index + 1) * _GOLDEN) & _MASK) >> 11) * _TO_UNIT


class JitterSource(Protocol):
    """What the pure schedules draw jitter from (`random.Random` is one)."""

    def uniform(self, a: float, b: float, /) -> float:
        """A float uniformly distributed between *a* and *b*."""
        ...


@final
class SplitMix64:
    """SplitMix64: a tiny seedable generator with a `random.Random`-like face.

    Args:
        seed: any int; only its low 64 bits count.

    Example:
        >>> rng = SplitMix64(0)
        >>> hex(rng.next64())
        '0xe220a8397b1dcdaf'
        >>> 0.0 <= SplitMix64(7).random() < 1.0
        True
    """

    __slots__ = ("_state",)

    def __init__(self, seed: int) -> None:
        """Start from *seed*."""
        self._state = seed & _MASK

    @classmethod
    def from_key(cls, key: str) -> SplitMix64:
        """A generator seeded from a text key (stable across runs and versions)."""
        return cls(key64(key))

    @classmethod
    def from_entropy(cls) -> SplitMix64:
        """A generator seeded from the operating system's entropy."""
        return cls(int.from_bytes(os.urandom(8), "big"))

    def next64(self) -> int:
        """The next 64-bit output."""
        self._state = state = (self._state + _GOLDEN) & _MASK
        return mix64(state)

    def random(self) -> float:
        """A float in [0, 1) with 53 random bits."""
        return (self.next64() >> 11) * _TO_UNIT

    def uniform(self, a: float, b: float, /) -> float:
        """A float between *a* and *b*, as `random.Random.uniform`."""
        return a + (b - a) * self.random()
