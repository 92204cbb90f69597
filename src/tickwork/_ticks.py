"""ticks(): a drift-free, skip-on-overrun ``async for`` over a `TickSchedule`.

trio-util's ``periodic`` sleeps until "last wake-up + period", so every
wake-up's latency adds to all later ticks (~0.7 ms a tick at 5 ms on Linux,
benchmarks/ticks.py). Here every instant comes from the anchor
(`TickSchedule.instant`) and a body that overran skips to the next grid
instant (`TickSchedule.skip_missed`), as the scheduler's loops do.

The iterator is a small class, not an async generator: it costs the same
per tick (about 5 µs above a bare checkpoint either way, measured; a real
wake-up costs ~65 µs), but it leaves nothing for Trio's async-generator
finaliser when a consumer breaks out, and it stays usable after a
cancellation caught around one step, where a generator would be closed by
the exception.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, final

import attrs
import trio

from tickwork._rng import SplitMix64
from tickwork._ticker import TickSchedule
from tickwork._validation import check_bool, check_seed

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


@final
@attrs.frozen(kw_only=True)
class Tick:
    """One item of `ticks`: which grid tick it is, and how late it came.

    Times are on Trio's clock (`trio.current_time`).
    """

    index: int
    """The grid tick's number k: 0 at the anchor, instant ``anchor + k *
    interval`` give or take the jitter. Skipped ticks leave gaps, so the
    next item's index is this one's plus ``skipped + 1``."""
    scheduled: float
    """The instant the tick was due at, jitter included."""
    lateness: float
    """Seconds from `scheduled` to when the iterator handed the tick out
    (>= 0; the timer's latency, or 0 under a `trio.testing.MockClock`)."""
    skipped: int
    """Grid ticks passed over since the previous item, because the body
    overran them (or a wake-up came that late); never replayed."""


@final
class _Ticks:
    """The iterator `ticks` returns; its grid is anchored at the first step."""

    __slots__ = ("_anchor", "_index", "_instant", "_last", "_rng", "_schedule")

    def __init__(
        self, schedule: TickSchedule, rng: SplitMix64, *, run_on_start: bool
    ) -> None:
        self._schedule = schedule
        self._rng = rng
        self._anchor: float | None = None
        # The next tick to hand out (its jitter drawn once, kept across a
        # cancelled step) and the last one handed out.
        self._index = 0 if run_on_start else 1
        self._instant = 0.0
        self._last = self._index - 1

    def __aiter__(self) -> _Ticks:
        return self

    async def __anext__(self) -> Tick:
        schedule, rng = self._schedule, self._rng
        anchor = self._anchor
        if anchor is None:
            self._anchor = anchor = trio.current_time()
            self._instant = (
                anchor if self._index == 0 else schedule.instant(anchor, 1, rng)
            )
        index, instant = self._index, self._instant
        if index == 0:
            # The run_on_start tick is due at the anchor, which is now; still
            # a checkpoint, as every step of a Trio iterator should be.
            await trio.lowlevel.checkpoint()
        else:
            now = trio.current_time()
            if instant <= now:  # the body overran it, or the first is already due
                missed = schedule.skip_missed(anchor, index, instant, now, rng)
                self._index = index = missed.next_index
                self._instant = instant = missed.next_instant
            await trio.sleep_until(instant)
        now = trio.current_time()
        skipped = index - self._last - 1
        self._last = index
        self._index = index + 1
        self._instant = schedule.instant(anchor, index + 1, rng)
        return Tick(
            index=index, scheduled=instant, lateness=now - instant, skipped=skipped
        )


def ticks(
    interval: float,
    *,
    jitter: float = 0.0,
    run_on_start: bool = True,
    seed: int | None = None,
) -> AsyncIterator[Tick]:
    """Iterate, in your own task, over a drift-free grid of instants.

    ``async for tick in ticks(interval):`` runs its body once per grid
    instant ``anchor + k * interval`` (each moved by at most ``jitter *
    interval / 2``, see `TickSchedule`), where the anchor is the Trio time
    of the first step of the iteration. Every instant is computed from the
    anchor, so wake-up latency and the body's run time never accumulate:
    the 1000th tick is as close to its instant as the first.

    - First tick: with *run_on_start* (the default) tick 0 comes at once, at
      the anchor; without it the first item is tick 1, one interval (jitter
      included) later.
    - Overrun: when the body takes longer than the time to the next
      instant, that instant and any other that passed while it ran are
      skipped, never replayed; the iteration waits for the first instant
      still ahead. A body that ends exactly on an instant skips it. The next
      item says how many were skipped (`Tick.skipped`), and its index jumps
      by as many (`Tick.index`). Unlike trio-util's ``periodic``, an overrun
      never yields at once off the grid.
    - Late wake-up: a tick whose wake-up comes late (a busy event loop) is
      still handed out, with its `Tick.lateness`; instants that passed
      meanwhile are skipped at the next step.
    - Breaking out of the ``async for`` just drops the iterator: there is no
      task or resource behind it. Iterating it again later continues the
      same grid, skipping the instants that passed meanwhile.
    - Cancellation: a step is a `trio.sleep_until`, so an outer cancel scope
      interrupts it with ``trio.Cancelled`` at once. If you catch that around
      one step, the iterator stays usable: its next step still waits for the
      same instant (its jitter is not drawn again), or skips it if it passed
      (tick 0 of *run_on_start* is handed out late instead). Every step is a
      checkpoint, the first one with *run_on_start* too.
    - One consumer at a time: the iterator holds the grid's position and is
      not meant to be stepped from two tasks at once.

    Intervals finer than Trio's timers (about 1 ms) are accepted, but most
    of their ticks come out as skipped.

    Args:
        interval: seconds between grid instants; finite and > 0.
        jitter: the spread of each instant around its grid point, as a
            fraction of *interval*, in [0, 1); 0 (the default) is the exact
            grid.
        run_on_start: hand out tick 0 at once, at the anchor.
        seed: None, or an int that makes the jitter reproducible: the same
            seed gives the same instants relative to the anchor. None draws
            a seed from the operating system.

    Returns:
        An async iterator of `Tick`, endless: stop it with ``break`` or a
        cancel scope.

    Raises:
        InvalidConfigError: *interval* or *jitter* is out of range (a
            `ValueError`), checked at the call.
        WrongTypeError: a value has the wrong type (a `TypeError`): a
            number that is not a real number, a *run_on_start* that is not
            a bool, a *seed* that is not an int or None.

    Example:
        On Trio's MockClock the instants are exact; a body that takes 2.5 s
        of a 1 s interval skips two ticks each time:

        >>> import trio, trio.testing
        >>> from tickwork import ticks
        >>> async def main() -> list[tuple[int, float, int]]:
        ...     seen = []
        ...     async for tick in ticks(1.0):
        ...         seen.append((tick.index, tick.scheduled, tick.skipped))
        ...         if len(seen) == 3:
        ...             return seen
        ...         await trio.sleep(2.5)
        ...     raise AssertionError
        >>> trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
        [(0, 0.0, 0), (3, 3.0, 2), (6, 6.0, 2)]
    """
    schedule = TickSchedule(interval=interval, jitter=jitter)
    start = check_bool("run_on_start", run_on_start)
    checked = check_seed("seed", seed)
    rng = (
        SplitMix64.from_entropy()
        if checked is None
        else SplitMix64.from_key(f"{checked}")
    )
    return _Ticks(schedule, rng, run_on_start=start)
