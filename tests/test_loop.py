"""A loop's own rules: bad loops refused, and no loop can starve the others."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import pytest
import trio
import trio.abc

from tickwork import InvalidConfigError, Loop, Scheduler, WrongTypeError

if TYPE_CHECKING:
    from collections.abc import Callable


async def job() -> None:
    """A loop body."""


def sync_job() -> None:
    """A synchronous function: no loop body."""


class AsyncCallable:
    """An object whose __call__ is async: a fine loop body."""

    async def __call__(self) -> None:
        """One run."""


def decorated(fn: Callable[[], Any]) -> Callable[[], Any]:
    """A plain wrapper around an async function, as decorators often are."""

    @functools.wraps(fn)
    def wrapper() -> Any:
        return fn()

    return wrapper


@pytest.mark.parametrize(
    "fn",
    [job, AsyncCallable(), functools.partial(job), decorated(job), lambda: job()],  # noqa: PLW0108 - a lambda is what is pinned
)
def test_async_callables_are_accepted(fn: object) -> None:
    """async def, async __call__, partials, decorated and lambdas are fine."""
    Loop(name="a", fn=fn, interval=1)  # type: ignore[arg-type]


@pytest.mark.parametrize("fn", [sync_job, print, Loop, functools.partial(sync_job)])
def test_recognisably_sync_callables_are_refused(fn: object) -> None:
    """A def function, a builtin or a class as fn is refused at construction."""
    with pytest.raises(WrongTypeError, match="'fn' must be an async callable"):
        Loop(name="a", fn=fn, interval=1)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("  ", "without surrounding white space"),
        (" a", "without surrounding white space"),
        ("a\nb", "control characters"),
        ("a\x00", "control characters"),
    ],
)
def test_names_unfit_for_logs_are_refused(name: str, fragment: str) -> None:
    """Blank, padded or multi-line names are refused, as the stores refuse them."""
    with pytest.raises(InvalidConfigError, match=fragment):
        Loop(name=name, fn=job, interval=1)


@pytest.mark.parametrize("interval", [1e-6, 0.0009, 2**2000, -(2**2000)])
def test_intervals_below_a_millisecond_or_huge_are_refused(interval: float) -> None:
    """interval must be finite and >= 0.001 (Trio's timer granularity)."""
    with pytest.raises(
        InvalidConfigError, match=r"'interval' must be finite and >= 0\.001"
    ):
        Loop(name="a", fn=job, interval=interval)
    Loop(name="a", fn=job, interval=0.001)


class StepClock(trio.abc.Clock):
    """A clock that moves 10 ms every time it is read, and never sleeps.

    Like a busy real clock: by the time a loop compares its next instant with
    "now", the instant has passed, so the loop never takes its sleeping path.
    """

    def __init__(self) -> None:
        """Start at 0."""
        self.now = 0.0

    def start_clock(self) -> None:
        """Nothing to start."""

    def current_time(self) -> float:
        """Now, then 10 ms later."""
        self.now += 0.01
        return self.now

    def deadline_to_sleep_time(self, deadline: float) -> float:
        """Never block on the I/O manager."""
        return 0.0


class Starved(BaseException):
    """Raised by the spinning loop when nothing else ever got to run."""


def test_a_loop_whose_fn_never_awaits_cannot_starve_the_others() -> None:
    """Each iteration is a checkpoint, so other tasks run even when always late."""
    runs = 0
    others_ran = False

    async def spin() -> None:  # never awaits anything
        nonlocal runs
        runs += 1
        if runs > 1000 and not others_ran:
            raise Starved

    async def main() -> None:
        nonlocal others_ran
        scheduler = Scheduler([Loop(name="spin", fn=spin, interval=0.001, jitter=0)])
        async with trio.open_nursery() as nursery:
            await nursery.start(scheduler.run)
            for _ in range(3):
                await trio.lowlevel.checkpoint()
            others_ran = True
            scheduler.stop(grace=0)

    trio.run(main, clock=StepClock())
    assert others_ran
    assert runs >= 1
