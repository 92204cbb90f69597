"""The two hand-written loops every benchmark measures tickwork against.

- `floor`: the raw-Trio floor, ``deadline += interval; sleep_until(deadline)``
  in a bare task: the least any Trio loop can do per tick. It does not drift,
  but over many ticks the added deadline gathers float rounding.
- `naive`: ``await trio.sleep(interval)`` after each wake-up, the loop
  everyone writes first: each tick's wake-up latency and run time are added
  to every later tick, so it drifts.

Both start at *anchor*, wake *ticks* times, and after wake-up *k* (from 1)
call ``on_tick(k, instant)`` with the instant the task meant to wake at (for
the naive loop, its grid point ``anchor + k * interval``), then await *body*
if one is given. ``on_tick`` records what the benchmark wants;
`record_lateness` is the usual one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio

OnTick = Callable[[int, float], object]
"""Called after wake-up *k* (from 1) with the instant the task meant to wake at."""
Body = Callable[[], Awaitable[object]]
"""A run's body, awaited after ``on_tick``."""


async def floor(
    anchor: float,
    interval: float,
    ticks: int,
    on_tick: OnTick,
    body: Body | None = None,
) -> None:
    """The raw-Trio floor: an accumulated deadline and ``sleep_until``."""
    deadline = anchor
    for k in range(1, ticks + 1):
        deadline += interval
        await trio.sleep_until(deadline)
        on_tick(k, deadline)
        if body is not None:
            await body()


async def naive(
    anchor: float,
    interval: float,
    ticks: int,
    on_tick: OnTick,
    body: Body | None = None,
) -> None:
    """The naive loop: ``sleep(interval)`` after each wake-up, from *anchor*."""
    await trio.sleep_until(anchor)
    for k in range(1, ticks + 1):
        await trio.sleep(interval)
        on_tick(k, anchor + k * interval)
        if body is not None:
            await body()


def record_lateness(out: list[float]) -> OnTick:
    """An ``on_tick`` that appends each wake-up's lateness, in seconds, to *out*."""

    def on_tick(_k: int, instant: float) -> None:
        out.append(trio.current_time() - instant)

    return on_tick
