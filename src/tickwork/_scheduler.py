"""Scheduler and open_scheduler: many periodic loops as children of one nursery."""

from __future__ import annotations

import enum
import logging
import sys
import time
from collections.abc import Iterable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Final, NoReturn, final

import attrs
import trio

from tickwork._calendar_loop import CalendarRunner, WallWatch
from tickwork._coordinated import CoordinatedRunner
from tickwork._coordination import Coordinator, default_replica
from tickwork._errors import (
    InvalidConfigError,
    SchedulerStateError,
    UnknownLoopError,
    WrongTypeError,
)
from tickwork._hooks import Hooks
from tickwork._life import Life
from tickwork._loop import Loop, LoopRunner, LoopStats
from tickwork._rng import SplitMix64
from tickwork._text import brief
from tickwork._validation import (
    check_name,
    check_non_negative,
    check_positive,
    check_seed,
)
from tickwork.triggers._store import check_clock, check_store

if sys.version_info < (3, 11):  # pragma: no cover - trio brings the backport
    from exceptiongroup import BaseExceptionGroup  # type: ignore[import-not-found,unused-ignore]

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Mapping

    from tickwork._cron import CronSchedule
    from tickwork.triggers._store import TriggerStore

LOGGER = logging.getLogger("tickwork.scheduler")


class _Unset(enum.Enum):
    UNSET = enum.auto()


_UNSET: Final = _Unset.UNSET

DEFAULT_LEASE: Final = 30.0
"""Seconds a coordinated window's claim holds before it must be renewed."""


@final
@attrs.frozen(kw_only=True)
class ShutdownReport:
    """What `Scheduler.run` returns once every loop has ended.

    Every way a scheduler ends makes one: `Scheduler.stop`, leaving
    `open_scheduler`'s block (normally or by an exception), a cancellation
    from outside, Ctrl-C. It is also kept as `Scheduler.shutdown_report`.
    """

    timed_out: bool
    """True exactly when `cancelled` is not empty."""
    cancelled: tuple[str, ...]
    """The loops, sorted, with a run (or a background task the run handed
    off) still in flight at the grace deadline, or when the scheduler was
    cancelled from outside. A run that ignores cancellation (blocked in a
    worker thread) is named too, though it ended only later."""


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
      `run`: a lone one (a `KeyboardInterrupt`, a `SystemExit`) as itself,
      several at once in Trio's exception group.
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
        hooks: an iterable of objects with optional event methods (see
            `tickwork._hooks`); a hook that raises is logged and ignored.
        store: a trigger store (`tickwork.triggers`) shared by the replicas
            of the service; needed by coordinated loops, which claim each
            window there so that it runs on one replica only.
        lease: seconds a claimed window is held (> 0, default 30); a run
            renews it every ``lease / 3`` and is cut (fenced) if renewals
            fail for most of a lease.
        wall_clock: seconds since the Unix epoch, `time.time` by default:
            coordinated loops find their windows on it. Tests on Trio's
            MockClock pass one that follows `trio.current_time`.
        replica: this scheduler's name in the store (the holder of its
            leases, shown by the command line); by default host, process id
            and a random tag.

    A scheduler runs once. After it ended, `run_now` returns False and `add`
    and `run` raise `SchedulerStateError`; its `shutdown_report` stays.

    Raises:
        ValueError: two loops share a name (`InvalidConfigError`), or
            *grace* is out of range.
        TypeError: a hook is async or *hooks* is a single object
            (`WrongTypeError`).

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

    def __init__(  # noqa: PLR0913 - the public signature
        self,
        loops: Iterable[Loop] = (),
        *,
        grace: float = 30.0,
        seed: int | None = None,
        hooks: Iterable[object] = (),
        store: TriggerStore | None = None,
        lease: float = DEFAULT_LEASE,
        wall_clock: Callable[[], float] = time.time,
        replica: str | None = None,
    ) -> None:
        """Validate the configuration; nothing runs before `run`."""
        self._grace = check_non_negative("grace", grace)
        self._seed = check_seed("seed", seed)
        self._life = Life(Hooks(hooks))
        self._runners: dict[str, LoopRunner | CoordinatedRunner] = {}
        self._coordinator: Coordinator | None = None
        self._wall_clock = check_clock(wall_clock, "wall_clock")
        self._watch = WallWatch(self._wall_clock)
        self._service: trio.Nursery | None = None
        self.replica: str = (
            default_replica() if replica is None else check_name("replica", replica)
        )
        """This scheduler's name in the store: the holder of its leases."""
        self.lease: float = check_positive("lease", lease)
        if store is not None:
            check_store(store)
            self._coordinator = Coordinator(
                store,
                "loop",
                lease=self.lease,
                replica=self.replica,
                on_renewal_failed=self._renewal_failed,
            )
        self._started = False
        self._stop_event = trio.Event()
        self._stop_called_at: float | None = None
        self._cancelled_at: float | None = None
        self.shutdown_report: ShutdownReport | None = None
        """The `ShutdownReport` once the scheduler has ended, else None."""
        for loop in _check_loops(loops):
            self.add(loop)

    # --- configuration ------------------------------------------------------

    def add(self, loop: Loop) -> None:
        """Add a loop; if the scheduler is running, the loop starts at once.

        Raises:
            InvalidConfigError: a loop with that name is already here (a
                `ValueError`).
            WrongTypeError: *loop* is not a `Loop`.
            SchedulerStateError: the scheduler is stopping or has ended (a
                `RuntimeError`).
        """
        loop = _check_loop(loop)
        if loop.name in self._runners:
            msg = f"a loop named {brief(loop.name)} is already in this scheduler"
            raise InvalidConfigError(msg)
        if self._life.stopping:
            state = "has ended" if self.shutdown_report else "is stopping"
            msg = f"cannot add loop {brief(loop.name)}: the scheduler {state}"
            raise SchedulerStateError(msg)
        runner: LoopRunner | CoordinatedRunner
        if loop.coordinated:
            if self._coordinator is None:
                msg = (
                    f"loop {brief(loop.name)} is coordinated=True, which needs "
                    "Scheduler(store=...): the store where replicas claim its windows"
                )
                raise InvalidConfigError(msg)
            key = loop.name if self._seed is None else f"{self._seed}:{loop.name}"
            runner = CoordinatedRunner(loop, self._coordinator, self._wall_clock, key)
        elif loop.schedule is not None:
            runner = CalendarRunner(
                loop, self._rng_for(loop.name), self._life, self._wall_clock
            )
        else:
            runner = LoopRunner(loop, self._rng_for(loop.name), self._life)
        self._runners[loop.name] = runner
        if self._life.nursery is not None:
            self._spawn(runner)

    def remove(self, name: str) -> None:
        """Remove a loop; its in-flight run, if any, is cancelled.

        Raises:
            UnknownLoopError: no loop has that name (a `KeyError`).
        """
        runner = self._runners.pop(name, None)
        if runner is None:
            _unknown(name)
        runner.cancel()
        LOGGER.info("loop %s removed", brief(name), extra={"tickwork_loop": name})

    def run_now(self, name: str) -> bool:
        """Start a run of loop *name* at once, unless one is in flight.

        The loop's schedule is unchanged: ticks that pass during this run are
        skipped as usual. Returns True if a run was requested, False if one is
        already in flight, the scheduler is not running (before `run`, after
        `stop`), or the loop is coordinated: its windows run where they are
        claimed, once each, and an extra run would break that.

        Raises:
            UnknownLoopError: no loop has that name (a `KeyError`).
        """
        runner = self._runners.get(name)
        if runner is None:
            _unknown(name)
        if (
            self._life.nursery is None
            or self._life.stopping
            or isinstance(runner, CoordinatedRunner)
            or runner.in_flight_or_paused
        ):
            return False
        runner.run_requested = True
        runner.wake()
        return True

    async def pause(self, name: str) -> None:
        """Pause loop *name*: its windows are not run until `resume`.

        The loop keeps its anchor and statistics; each window that comes
        while it is paused counts in `LoopStats.paused` (not as a skip). A
        run in flight is not disturbed. `run_now` returns False meanwhile.
        A coordinated loop's pause is stored, so it holds on every replica
        (``python -m tickwork.triggers pause NAME`` sets it too); this
        awaits the store. Pausing a paused loop changes nothing.

        Raises:
            UnknownLoopError: no loop has that name (a `KeyError`).
            TriggerStoreError: a coordinated loop's store failed.
        """
        await self._set_paused(name, paused=True)

    async def resume(self, name: str) -> None:
        """Resume loop *name*: it runs again from its next window, on its grid.

        No burst and no catch-up: windows that came while it was paused stay
        unrun. A coordinated loop's resume is stored, like its pause.

        Raises:
            UnknownLoopError: no loop has that name (a `KeyError`).
            TriggerStoreError: a coordinated loop's store failed.
        """
        await self._set_paused(name, paused=False)

    async def _set_paused(self, name: str, *, paused: bool) -> None:
        runner = self._runners.get(name)
        if runner is None:
            _unknown(name)
        if isinstance(runner, CoordinatedRunner):
            await runner.coordinator.store.set_paused("loop", name, paused)
            if paused:  # other replicas' runs learn of it at their next claim
                runner.keep_run()
        else:
            await trio.lowlevel.checkpoint()
            if not (runner.pause() if paused else runner.resume()):
                return
        LOGGER.info(
            "loop %s %s",
            brief(name),
            "paused" if paused else "resumed",
            extra={"tickwork_loop": name},
        )

    def update(
        self,
        name: str,
        *,
        interval: float | None = None,
        jitter: float | None = None,
        timeout: float | _Unset | None = _UNSET,
        schedule: CronSchedule | None = None,
    ) -> Loop:
        """Change loop *name*'s interval, jitter, schedule or timeout while it runs.

        The statistics are kept and a run in flight is not disturbed: the
        change takes effect at the loop's next window, which fires as it was
        scheduled and anchors the new grid (an in-process loop's next runs
        are then ``interval`` apart from it; a coordinated loop's windows
        stay on the epoch grid with its ``phase``). Only this scheduler's
        loop changes: other replicas keep their own configuration.

        Args:
            name: the loop.
            interval: the new interval, or None to keep it.
            jitter: the new jitter, or None to keep it.
            timeout: the new timeout (None: no timeout); left out, kept.
            schedule: a calendar loop's new `CronSchedule`, or None to keep
                it; it takes effect after the fire time due next. A loop
                keeps its kind: an interval loop takes no schedule, a
                calendar loop no interval or jitter.

        Returns:
            The loop's new `Loop`.

        Raises:
            UnknownLoopError: no loop has that name (a `KeyError`).
            InvalidConfigError: a value is out of range (a `ValueError`).
        """
        runner = self._runners.get(name)
        if runner is None:
            _unknown(name)
        current = runner.configured
        if (schedule is not None) != current.calendar and (
            schedule is not None or interval is not None or jitter is not None
        ):
            kind = "a calendar" if current.calendar else "an interval"
            msg = (
                f"loop {brief(name)} is {kind} loop and stays one: "
                + (
                    "update its 'schedule', not its interval or jitter"
                    if current.calendar
                    else "update its 'interval' or 'jitter', not a 'schedule'"
                )
                + "; remove it and add a new Loop to change its kind"
            )
            raise InvalidConfigError(msg)
        loop = attrs.evolve(  # validates, as Loop() does
            current,
            interval=current.interval if interval is None else interval,
            jitter=current.jitter if jitter is None else jitter,
            schedule=current.schedule if schedule is None else schedule,
            timeout=current.timeout if isinstance(timeout, _Unset) else timeout,
        )
        runner.update(loop)
        return loop

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
        outside cancels every run at once and propagates. However it ends,
        the stop is logged, hooks hear ``on_shutdown`` and the report is kept
        as `shutdown_report`. A `SystemExit` or `KeyboardInterrupt` raised
        in a run leaves as itself, not inside an exception group, so
        ``sys.exit(3)`` in a job still exits with status 3.

        Raises:
            SchedulerStateError: `run` was already called (a `RuntimeError`).
        """
        if self._started:
            msg = "Scheduler.run() may be called only once"
            raise SchedulerStateError(msg)
        self._started = True
        unwrapped: BaseException | None = None
        try:
            async with trio.open_nursery() as service:
                try:
                    await self._run_loops(service, task_status)
                finally:
                    service.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            unwrapped = _unwrap(group)
            if unwrapped is None:
                raise
        finally:
            self._ended()
        if unwrapped is not None:
            # Raised outside the handler, so its traceback does not show the
            # group as the exception it happened "during".
            raise unwrapped
        assert self.shutdown_report is not None  # noqa: S101 - set by _ended
        return self.shutdown_report

    async def _run_loops(
        self, service: trio.Nursery, task_status: trio.TaskStatus[None]
    ) -> None:
        """The loops' nursery; *service* holds the lease keeper and batches."""
        life = self._life
        self._service = service
        if self._coordinator is not None:
            self._coordinator.start(service, resident=True)
        async with trio.open_nursery() as nursery:
            if not life.stopping:
                life.nursery = nursery
                for runner in self._runners.values():
                    self._spawn(runner)
                LOGGER.info("scheduler started with %d loop(s)", len(self._runners))
            task_status.started()
            try:
                await self._stop_event.wait()
            except BaseException:
                # Cancelled from outside, or a run raised: the shutdown
                # that the report times begins now.
                self._cancelled_at = trio.current_time()
                raise
            # stop() sets this itself once the nursery exists; this line
            # covers a stop() that came before run().
            nursery.cancel_scope.deadline = life.deadline

    def _renewal_failed(self, name: str) -> None:
        runner = self._runners.get(name)
        if isinstance(runner, CoordinatedRunner):
            runner.renewal_failed()
        self._life.hooks.emit("on_lease_renewal_failed", name=name, kind="loop")

    def _ended(self) -> None:
        """Make, log, emit and keep the report, on every way out of `run`."""
        life = self._life
        life.nursery = None
        for runner in self._runners.values():
            # A loop task ended by a cancellation had no chance to clear it.
            runner.next_fire = None
        now = trio.current_time()
        life.stopping = True  # already, unless cancelled from outside
        life.deadline = min(life.deadline, now)
        cut = tuple(sorted(life.cut))
        report = ShutdownReport(timed_out=bool(cut), cancelled=cut)
        self.shutdown_report = report
        stopped_at = self._stop_called_at
        how = "stopped" if stopped_at is not None else "cancelled"
        began = stopped_at if stopped_at is not None else self._cancelled_at
        duration = 0.0 if began is None else now - began
        if report.timed_out:
            LOGGER.warning(
                "scheduler %s in %.3f s; runs cut: %s",
                how,
                duration,
                brief(", ".join(report.cancelled)),
                extra={"tickwork_cancelled": report.cancelled},
            )
        else:
            LOGGER.info("scheduler %s in %.3f s", how, duration)
        life.hooks.emit("on_shutdown", report=report, duration=duration)

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
        life = self._life
        if self.shutdown_report is not None:
            return
        now = trio.current_time()
        life.deadline = min(life.deadline, now + seconds)
        if life.nursery is not None:
            life.nursery.cancel_scope.deadline = life.deadline
        if life.stopping:
            return
        life.stopping = True
        self._stop_called_at = now
        LOGGER.info("scheduler stopping, grace %.3f s", seconds)
        for runner in self._runners.values():
            runner.stop()
        self._stop_event.set()

    # --- internals ------------------------------------------------------------

    def _rng_for(self, name: str) -> SplitMix64:
        # One small generator per loop (8 bytes of state, not random.Random's
        # 2.5 KB), seeded from the seed and the name so that a seed
        # reproduces each loop's jitter whatever the task order.
        if self._seed is None:
            return SplitMix64.from_entropy()
        return SplitMix64.from_key(f"{self._seed}:{name}")

    def _spawn(self, runner: LoopRunner | CoordinatedRunner) -> None:
        nursery = self._life.nursery
        assert nursery is not None  # noqa: S101 - callers check
        name = f"tickwork loop {brief(runner.loop.name)}"
        if not isinstance(runner, (CalendarRunner, CoordinatedRunner)):
            nursery.start_soon(runner.run, self._life, name=name)
            return
        # A loop on wall-clock instants: the watch wakes it when the wall
        # clock moves. The first one starts the watch, in the service
        # nursery (cancelled after the loops).
        watch = self._watch
        if not watch.started:
            assert self._service is not None  # noqa: S101 - set before the loops
            watch.started = True
            self._service.start_soon(watch.run, name="tickwork wall-clock watch")
        nursery.start_soon(watch.follow, runner, self._life, name=name)


def _check_loop(loop: object) -> Loop:
    if not isinstance(loop, Loop):
        msg = f"'loop' must be a tickwork.Loop (got {brief(loop)})"
        raise WrongTypeError(msg)
    return loop


def _check_loops(loops: object) -> Iterable[Loop]:
    if isinstance(loops, (Loop, str, bytes)) or not isinstance(loops, Iterable):
        msg = f"'loops' must be an iterable of tickwork.Loop (got {brief(loops)})"
        raise WrongTypeError(msg)
    return loops


def _unknown(name: object) -> NoReturn:
    msg = f"no loop named {brief(name)} in this scheduler"
    raise UnknownLoopError(msg)


def _unwrap(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """What the loops' nursery delivered, unwrapped where it is one; else None.

    Only `BaseException`s that are not `Exception`s leave a run (an
    `Exception` is logged and counted). Of those, `KeyboardInterrupt` and
    `SystemExit` leave as themselves, so Ctrl-C and ``sys.exit`` in a job
    keep their meaning; so does any single exception. Cancellations are
    Trio's business and stay in the group.
    """
    leaves = list(_leaves(group))
    for kind in (KeyboardInterrupt, SystemExit):
        for leaf in leaves:
            if isinstance(leaf, kind):
                return leaf
    others = [leaf for leaf in leaves if not isinstance(leaf, trio.Cancelled)]
    if len(others) == 1:  # the rest: siblings the nursery cancelled because of it
        return others[0]
    return None


def _leaves(group: BaseExceptionGroup[BaseException]) -> Iterable[BaseException]:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            yield from _leaves(exc)
        else:
            yield exc


@asynccontextmanager
async def open_scheduler(  # noqa: PLR0913 - the public signature
    loops: Iterable[Loop] = (),
    *,
    grace: float = 30.0,
    seed: int | None = None,
    hooks: Iterable[object] = (),
    store: TriggerStore | None = None,
    lease: float = DEFAULT_LEASE,
    wall_clock: Callable[[], float] = time.time,
    replica: str | None = None,
) -> AsyncIterator[Scheduler]:
    """Run a `Scheduler` for the duration of an ``async with`` block.

    Leaving the block normally stops the scheduler gracefully (with its
    *grace*) and waits for it; an exception leaving the block cancels every
    run at once and propagates unchanged (not wrapped in an exception group).
    Either way the `ShutdownReport` is kept as the scheduler's
    `Scheduler.shutdown_report`.

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
    scheduler = Scheduler(
        loops,
        grace=grace,
        seed=seed,
        hooks=hooks,
        store=store,
        lease=lease,
        wall_clock=wall_clock,
        replica=replica,
    )
    body_error: BaseException | None = None
    unwrapped: BaseException | None = None
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(scheduler.run)
            try:
                yield scheduler
            except BaseException as exc:  # noqa: BLE001 - re-raised below, unwrapped
                body_error = exc
                nursery.cancel_scope.cancel()
            else:
                scheduler.stop()
    except BaseExceptionGroup as group:
        unwrapped = _unwrap(group)
        if unwrapped is None:
            raise
    if unwrapped is not None:
        raise unwrapped
    if body_error is not None:
        raise body_error
