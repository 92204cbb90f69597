"""Scheduler and open_scheduler: many periodic loops as children of one nursery."""

from __future__ import annotations

import logging
import math
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, final

import attrs
import trio

from tickwork._errors import InvalidConfigError, SchedulerStateError, WrongTypeError
from tickwork._hooks import Hooks
from tickwork._loop import Loop, LoopRunner, LoopStats
from tickwork._rng import SplitMix64
from tickwork._validation import check_non_negative

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable, Mapping

LOGGER = logging.getLogger("tickwork.scheduler")


@final
@attrs.frozen(kw_only=True)
class ShutdownReport:
    """What `Scheduler.run` returns once every loop has ended."""

    timed_out: bool
    """Whether the grace deadline passed with runs still in flight."""
    cancelled: tuple[str, ...]
    """The loops whose in-flight run the deadline cancelled, sorted."""


@final
class Scheduler:
    """Runs many loops, each as a child task of one Trio nursery.

    - Each loop follows its own `TickSchedule`, anchored when it starts (at
      `run` for the loops given up front, at `add` for later ones); with
      ``run_on_start`` its first run starts at once.
    - Runs of one loop never overlap: a tick that comes while the previous run
      is in flight is skipped, counted in `LoopStats.skipped` and logged (one
      WARNING per overrunning run), never queued or replayed.
    - A run's `Exception` is logged at ERROR with its traceback and counted;
      the loop keeps its schedule and other loops never notice.
      Other `BaseException` types than Trio's cancellation propagate out of
      `run` as Trio's nursery delivers them.
    - `stop` begins a graceful shutdown: no run starts any more, runs in
      flight may finish until the grace deadline, then they are cancelled;
      `run` returns a `ShutdownReport` naming them.

    Args:
        loops: the loops to run; more can be added with `add`.
        grace: default seconds that `stop` lets in-flight runs finish;
            finite and >= 0.
        seed: None, or an int that makes every loop's jitter reproducible
            (each loop's generator is seeded from the seed and its name, so
            adding a loop does not change the others).
        hooks: objects with optional event methods (see `tickwork._hooks`);
            a hook that raises is logged and ignored.

    Raises:
        ValueError: two loops share a name (`InvalidConfigError`), or
            *grace* is out of range.

    Example:
        A loop every 10 s for 25 s, on Trio's MockClock so the times are
        exact (in a service, drop ``clock=``; `open_scheduler` is shorter):

        >>> import trio, trio.testing
        >>> from tickwork import Loop, Scheduler
        >>> starts = []
        >>> async def renew() -> None:
        ...     starts.append(trio.current_time())
        >>> async def main() -> None:
        ...     loop = Loop(name="renew", fn=renew, interval=10, jitter=0)
        ...     scheduler = Scheduler([loop])
        ...     async with trio.open_nursery() as nursery:
        ...         await nursery.start(scheduler.run)
        ...         await trio.sleep(25)
        ...         scheduler.stop(grace=10)
        >>> trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
        >>> starts
        [0.0, 10.0, 20.0]
    """

    def __init__(
        self,
        loops: Iterable[Loop] = (),
        *,
        grace: float = 30.0,
        seed: int | None = None,
        hooks: Iterable[object] = (),
    ) -> None:
        """Validate the configuration; nothing runs before `run`."""
        self._grace = check_non_negative("grace", grace)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            msg = f"'seed' must be None or an int (got {seed!r})"
            raise WrongTypeError(msg)
        self._seed = seed
        self.hooks = Hooks(hooks)
        self.stopping = False
        self._runners: dict[str, LoopRunner] = {}
        self._nursery: trio.Nursery | None = None
        self._started = False
        self._stop_event = trio.Event()
        self._stop_called_at: float | None = None
        self._deadline = math.inf
        self._cut: list[str] = []
        for loop in loops:
            self.add(loop)

    # --- configuration ------------------------------------------------------

    def add(self, loop: Loop) -> None:
        """Add a loop; if the scheduler is running, the loop starts at once.

        Raises:
            InvalidConfigError: a loop with that name is already here (a
                `ValueError`).
            WrongTypeError: *loop* is not a `Loop`.
            SchedulerStateError: the scheduler is stopping (a `RuntimeError`).
        """
        loop = _check_loop(loop)
        if loop.name in self._runners:
            msg = f"a loop named {loop.name!r} is already in this scheduler"
            raise InvalidConfigError(msg)
        if self.stopping:
            msg = f"cannot add loop {loop.name!r}: the scheduler is stopping"
            raise SchedulerStateError(msg)
        runner = LoopRunner(loop, self._rng_for(loop.name))
        self._runners[loop.name] = runner
        if self._nursery is not None:
            self._spawn(runner)

    def remove(self, name: str) -> None:
        """Remove a loop; its in-flight run, if any, is cancelled.

        Raises:
            KeyError: no loop has that name.
        """
        runner = self._runners.pop(name)
        runner.cancel()
        LOGGER.info("loop %r removed", name, extra={"tickwork_loop": name})

    def run_now(self, name: str) -> bool:
        """Start a run of loop *name* at once, unless one is in flight.

        The loop's schedule is unchanged: ticks that pass during this run are
        skipped as usual. Returns True if a run was requested, False if one is
        already in flight, or the scheduler is not running (before `run`,
        after `stop`).

        Raises:
            KeyError: no loop has that name.
        """
        runner = self._runners[name]
        if self._nursery is None or self.stopping or runner.in_flight:
            return False
        runner.run_requested = True
        runner.wake()
        return True

    def stats(self) -> Mapping[str, LoopStats]:
        """A snapshot of every loop's statistics, by name."""
        return {name: runner.stats() for name, runner in self._runners.items()}

    # --- life -----------------------------------------------------------------

    async def run(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> ShutdownReport:
        """Run every loop until `stop`; return what shutdown had to cancel.

        Use it as ``await nursery.start(scheduler.run)`` (it reports started
        once every loop is a child) or call it directly. Cancellation from
        outside cancels every run at once and propagates.

        Raises:
            SchedulerStateError: `run` was already called (a `RuntimeError`).
        """
        if self._started:
            msg = "Scheduler.run() may be called only once"
            raise SchedulerStateError(msg)
        self._started = True
        async with trio.open_nursery() as nursery:
            if not self.stopping:
                self._nursery = nursery
                for runner in self._runners.values():
                    self._spawn(runner)
                LOGGER.info("scheduler started with %d loop(s)", len(self._runners))
            task_status.started()
            await self._stop_event.wait()
            # stop() sets this itself once the nursery exists; this line
            # covers a stop() that came before run().
            nursery.cancel_scope.deadline = self._deadline
        self._nursery = None
        report = ShutdownReport(
            timed_out=bool(self._cut), cancelled=tuple(sorted(self._cut))
        )
        stopped_at = self._stop_called_at
        duration = 0.0 if stopped_at is None else trio.current_time() - stopped_at
        if report.timed_out:
            LOGGER.warning(
                "scheduler stopped in %.3f s; the grace deadline cancelled: %s",
                duration,
                ", ".join(report.cancelled),
                extra={"tickwork_cancelled": report.cancelled},
            )
        else:
            LOGGER.info("scheduler stopped in %.3f s", duration)
        self.hooks.emit("on_shutdown", report=report, duration=duration)
        return report

    def stop(self, *, grace: float | None = None) -> None:
        """Begin a graceful shutdown; idempotent, and never blocks.

        No run starts any more; idle loops end at once; runs in flight may
        finish until *grace* seconds from now, then they are cancelled. A later
        call may shorten the deadline (``stop(grace=0)`` cuts at once), never
        extend it. Call it from Trio code (a task, or a callback of one).

        Args:
            grace: seconds to wait for runs in flight; None uses the
                scheduler's ``grace``. Finite and >= 0.
        """
        seconds = self._grace if grace is None else check_non_negative("grace", grace)
        now = trio.current_time()
        self._deadline = min(self._deadline, now + seconds)
        if self._nursery is not None:
            self._nursery.cancel_scope.deadline = self._deadline
        if self.stopping:
            return
        self.stopping = True
        self._stop_called_at = now
        LOGGER.info("scheduler stopping, grace %.3f s", seconds)
        for runner in self._runners.values():
            runner.wake()
        self._stop_event.set()

    def record_cut(self, name: str) -> None:
        """Called by a loop whose run shutdown cancelled."""
        self._cut.append(name)

    # --- internals ------------------------------------------------------------

    def _rng_for(self, name: str) -> SplitMix64:
        # One small generator per loop (8 bytes of state, not random.Random's
        # 2.5 KB), seeded from the seed and the name so that a seed
        # reproduces each loop's jitter whatever the task order.
        if self._seed is None:
            return SplitMix64.from_entropy()
        return SplitMix64.from_key(f"{self._seed}:{name}")

    def _spawn(self, runner: LoopRunner) -> None:
        assert self._nursery is not None  # noqa: S101 - callers check
        self._nursery.start_soon(
            runner.run, self, name=f"tickwork loop {runner.loop.name!r}"
        )


def _check_loop(loop: object) -> Loop:
    if not isinstance(loop, Loop):
        msg = f"'loop' must be a tickwork.Loop (got {loop!r})"
        raise WrongTypeError(msg)
    return loop


@asynccontextmanager
async def open_scheduler(
    loops: Iterable[Loop] = (),
    *,
    grace: float = 30.0,
    seed: int | None = None,
    hooks: Iterable[object] = (),
) -> AsyncIterator[Scheduler]:
    """Run a `Scheduler` for the duration of an ``async with`` block.

    Leaving the block normally stops the scheduler gracefully (with its
    *grace*) and waits for it; an exception leaving the block cancels every
    run at once and propagates unchanged (not wrapped in an exception group).

    Example:
        Loops can also be added while the block runs:

        >>> import trio, trio.testing
        >>> from tickwork import Loop, open_scheduler
        >>> async def gc() -> None: ...
        >>> async def drain_queue() -> None: ...
        >>> async def main() -> dict[str, int]:
        ...     async with open_scheduler([Loop(name="gc", fn=gc, interval=60)]) as s:
        ...         s.add(Loop(name="queue", fn=drain_queue, interval=30, timeout=25))
        ...         await trio.sleep(100)  # the rest of the service
        ...     return {name: stats.runs for name, stats in s.stats().items()}
        >>> trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
        {'gc': 2, 'queue': 4}
    """
    scheduler = Scheduler(loops, grace=grace, seed=seed, hooks=hooks)
    body_error: BaseException | None = None
    async with trio.open_nursery() as nursery:
        await nursery.start(scheduler.run)
        try:
            yield scheduler
        except BaseException as exc:  # noqa: BLE001 - re-raised below, unwrapped
            body_error = exc
            nursery.cancel_scope.cancel()
        else:
            scheduler.stop()
    if body_error is not None:
        raise body_error
