"""The typing of poll's and ticks' public API as a user writes it: never run.

mypy --strict checks this module with the rest of ``tests``; a line here
that stops type-checking is a regression in the public types. Nothing in it
runs: pytest collects no tests here and, when it imports the module for
doctests, only defines the functions below, which nobody calls.
"""

from __future__ import annotations

import random

from tickwork import (
    PENDING,
    Backoff,
    Done,
    Failed,
    Pending,
    PollResult,
    Tick,
    poll,
    ticks,
)


class Midpoint:
    """A jitter source of the user's own: anything with ``uniform(a, b)``."""

    def uniform(self, a: float, b: float) -> float:
        """Always the middle of the range."""
        return (a + b) / 2


async def ready() -> PollResult[str]:
    """A polled function: done with a str, failed, or not yet."""
    if random.random() < 0.1:
        return Failed(RuntimeError("rejected"))
    if random.random() < 0.5:
        return PENDING
    return Done("ready")


async def count() -> PollResult[int]:
    """A polled function done with an int."""
    return Done(1)


async def result_types() -> None:
    """poll returns the Done value's type, and accepts every option's type."""
    text: str = await poll(ready)
    number: int = await poll(count, max_wait=60, attempt_timeout=2.5)
    seeded: str = await poll(
        ready,
        max_wait=10,
        backoff=Backoff(initial=1, factor=2, cap=8, jitter=0.1),
        retry_on=(ConnectionError, TimeoutError),
        rng=random.Random(42),
    )
    split: str = await poll(ready, retry_on=OSError, rng=Midpoint())
    del text, number, seeded, split


async def covariant_done() -> None:
    """Done is covariant: a Done[str] is a Done[object], so wider targets work."""
    widened: object = await poll(ready)
    results: list[object] = []
    results.append(await poll(ready))
    optional: str | None = await poll(ready)
    as_str: Done[str] = Done("ready")
    as_object: Done[object] = as_str
    as_result: PollResult[object] = as_str
    del widened, optional, as_object, as_result


async def narrowing(result: PollResult[str]) -> str | None:
    """A caller's code narrows a PollResult the way poll does.

    ``result is PENDING`` still holds for the constant at run time, but only
    ``isinstance`` narrows: a Pending may carry a retry_after.
    """
    if isinstance(result, Pending):
        return None
    if isinstance(result, Failed):
        raise result.error
    return result.value


async def rate_limited(status: int, retry_after: str | None) -> PollResult[str]:
    """A polled function that passes an HTTP Retry-After on."""
    if status == 429 and retry_after is not None:
        return Pending(retry_after=float(retry_after))
    if status == 200:
        return Done("ok")
    return PENDING


async def pending_fields(result: PollResult[str]) -> float | None:
    """A Pending's retry_after is an optional float; PENDING is a Pending."""
    constant: Pending = PENDING
    if isinstance(result, Pending):
        return result.retry_after
    del constant
    return None


async def tick_types() -> None:
    """ticks() is an async iterator of Tick with typed fields."""
    async for tick in ticks(1.0, jitter=0.1, run_on_start=False, seed=7):
        index: int = tick.index
        scheduled: float = tick.scheduled
        lateness: float = tick.lateness
        skipped: int = tick.skipped
        del index, scheduled, lateness, skipped
        break
    iterator = ticks(5)
    first: Tick = await iterator.__anext__()
    del first


async def refused_by_the_types() -> None:
    """What poll refuses at run time, mypy refuses too (the ignores must stay used)."""
    await poll(ready, retry_on=KeyboardInterrupt)  # type: ignore[arg-type]
    await poll(ready, rng=5)  # type: ignore[arg-type]
    Failed("oops")  # type: ignore[arg-type]
    Pending(retry_after="30")  # type: ignore[arg-type]
    ticks(1, seed="7")  # type: ignore[arg-type]


def result_values() -> None:
    """PENDING, Done and Failed are what a polled function may return."""
    pending: PollResult[int] = PENDING
    done: PollResult[int] = Done(3)
    failed: PollResult[int] = Failed(ValueError("no"))
    value: int = Done(3).value
    error: BaseException = Failed(KeyError("k")).error
    del pending, done, failed, value, error
