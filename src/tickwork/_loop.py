"""One periodic loop: its configuration, statistics and life as a Trio task.

The task sleeps towards its next instant in a cancel scope of its own (what
`trio.sleep_until` does internally, so a tick costs what a sleep costs), runs
the loop's function inline, then asks `TickSchedule.skip_missed` where to
resume. Runs of one loop therefore never overlap, and ticks that pass while a
run is in flight are skipped and counted, never queued.

`wake` (for `run_now` and `stop`) reschedules the sleeping task instead of
cancelling its scope: Trio's `CancelScope.cancel` formats the caller's task
repr and builds a `Cancelled` with its traceback, which made stopping 10 000
idle loops take ~400 ms; a reschedule is a deque append (~100 ms in all).
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any, Final, Literal, cast, final

import attrs
import trio

from tickwork._background import Background, HandsOff
from tickwork._context import NotInRunError, RunContext, set_source
from tickwork._errors import InvalidConfigError
from tickwork._text import brief
from tickwork._ticker import TickSchedule
from tickwork._validation import (
    attrs_at_least,
    attrs_bool,
    attrs_finite,
    attrs_fraction,
    attrs_name,
    attrs_optional_positive,
    check_async_callable,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from tickwork._life import Life
    from tickwork._rng import JitterSource

LOGGER = logging.getLogger("tickwork.loop")

SUCCEEDED: Final = "succeeded"
FAILED: Final = "failed"
TIMED_OUT: Final = "timed_out"
CANCELLED: Final = "cancelled"


class _NoJitter:
    """A jitter source that answers the middle of the band: offset 0.

    A schedule with jitter drawing from it gives its nominal grid point.
    """

    @staticmethod
    def uniform(a: float, b: float) -> float:
        return (a + b) / 2


_NO_JITTER: Final = _NoJitter()

MIN_INTERVAL: Final = 0.001
"""The shortest loop interval, in seconds: Trio's timers resolve about 1 ms."""


def _fn(_inst: object, _attribute: attrs.Attribute[Any], value: object) -> None:
    check_async_callable("fn", value, "taking no arguments")


Delivery = Literal["at_most_once", "at_least_once"]
DELIVERIES: Final = ("at_most_once", "at_least_once")


def _delivery(_inst: object, _attribute: attrs.Attribute[Any], value: object) -> None:
    check_delivery(value)


def check_delivery(value: object) -> Delivery:
    """Require "at_most_once" or "at_least_once"."""
    if value not in DELIVERIES:
        msg = (
            f"'delivery' must be 'at_most_once' or 'at_least_once' (got {brief(value)})"
        )
        raise InvalidConfigError(msg)
    return value


@final
@attrs.frozen(kw_only=True)
class Loop:
    """A periodic job for a `Scheduler`: what to run and when.

    Args:
        name: unique within its scheduler; a non-empty str without
            surrounding white space or control characters. It names the loop
            in logs, statistics and the shutdown report.
        fn: an async callable with no arguments, awaited once per run. Its
            return value is ignored; an `Exception` it raises is logged and
            counted, and the loop keeps its schedule. A recognisably
            synchronous callable (a ``def`` function) is refused.
        interval: seconds between nominal runs; finite and >= 0.001 (Trio's
            timer granularity).
        jitter: spread of each run around its grid point, as a fraction of
            *interval*, in [0, 1) (see `TickSchedule`).
        timeout: None, or seconds after which a run is cancelled and counted
            as timed out; finite and > 0.
        run_on_start: run once as soon as the loop starts (else the first run
            comes one interval, jittered, later). For a coordinated loop: at
            start, run the latest window whose instant has passed, if no
            replica ran it (else wait for the next window).
        coordinated: run each window on one replica only, claiming it in the
            scheduler's store (`Scheduler` needs ``store=``). Its windows
            start at ``phase + k * interval`` seconds after the Unix epoch,
            the same on every replica, not at the process start.
        phase: seconds added to the Unix epoch to anchor a coordinated loop's
            windows; finite. Ignored for in-process loops.
        delivery: for a coordinated loop, ``"at_most_once"`` (a window whose
            replica dies mid-run is recorded as lost) or ``"at_least_once"``
            (it is run again elsewhere, attempt 2, 3, ...).

    Raises:
        InvalidConfigError: a value is out of range (a `ValueError`).
        WrongTypeError: a value has the wrong type (a `TypeError`).

    Example:
        >>> async def sweep_sessions() -> None: ...
        >>> loop = Loop(name="sessions", fn=sweep_sessions, interval=60, timeout=10)
        >>> loop.schedule
        TickSchedule(interval=60, jitter=0.1)
    """

    name: str = attrs.field(validator=attrs_name)
    fn: Callable[[], Awaitable[object]] = attrs.field(validator=_fn, eq=False)
    interval: float = attrs.field(validator=attrs_at_least(MIN_INTERVAL))
    jitter: float = attrs.field(default=0.1, validator=attrs_fraction)
    timeout: float | None = attrs.field(default=None, validator=attrs_optional_positive)
    run_on_start: bool = attrs.field(default=True, validator=attrs_bool)
    coordinated: bool = attrs.field(default=False, validator=attrs_bool)
    phase: float = attrs.field(default=0.0, validator=attrs_finite)
    delivery: Delivery = attrs.field(default="at_most_once", validator=_delivery)

    @property
    def schedule(self) -> TickSchedule:
        """The loop's `TickSchedule`."""
        return TickSchedule(interval=self.interval, jitter=self.jitter)


_OVERRUN: Final = "loop %s overran: its run took %.3f s and %d tick(s) were skipped"
_LATE_WAKE: Final = (
    "loop %s woke %.3f s late: its tick runs now and the %d tick(s) that also "
    "passed meanwhile were skipped"
)


@final
@attrs.frozen(kw_only=True)
class LoopStats:
    """A snapshot of one loop's statistics, from `Scheduler.stats`.

    Times are on Trio's clock (`trio.current_time`).
    """

    runs: int
    """Runs started, the one in flight included."""
    succeeded: int
    """Runs that returned."""
    failed: int
    """Runs that raised an `Exception`."""
    timed_out: int
    """Runs cut by the loop's ``timeout``."""
    cancelled: int
    """Runs cut by `Scheduler.remove` or by shutdown."""
    skipped: int
    """Ticks that passed while a run was in flight (or during a late wake-up)
    and were skipped, never replayed."""
    in_flight: bool
    """Whether a run is in flight now."""
    last_started: float | None
    """When the last run started, or None before the first."""
    last_duration: float | None
    """How long the last finished run took, or None before one finished."""
    next_fire: float | None
    """The instant the loop is waiting for, or None when it is not waiting
    (not started, running, or stopped)."""
    fenced: int = 0
    """Coordinated: runs cut because their lease could not be renewed (or
    that ended after another replica took their window over)."""
    lost: int = 0
    """Coordinated: windows this replica found abandoned by a vanished
    holder and recorded as lost."""
    claims_lost: int = 0
    """Coordinated: windows another replica claimed first."""
    renewal_failures: int = 0
    """Coordinated: lease renewals that failed or were refused."""


@final
class LoopRunner:
    """The live state of one loop inside a running scheduler."""

    __slots__ = (
        "_anchor",
        "_run_index",
        "_run_lateness",
        "_run_scheduled",
        "_run_scope",
        "_sleeper",
        "background",
        "cancelled",
        "failed",
        "in_flight",
        "last_duration",
        "last_started",
        "loop",
        "next_fire",
        "removed",
        "rng",
        "run_requested",
        "runs",
        "schedule",
        "skipped",
        "succeeded",
        "timed_out",
    )

    def __init__(self, loop: Loop, rng: JitterSource, life: Life) -> None:
        """Prepare a loop of the scheduler that *life* is; it has not started."""
        self.loop = loop
        self.background: Background | None = None
        if isinstance(loop.fn, HandsOff):
            self.background = Background(loop.name, life)
        self.schedule = loop.schedule
        self.rng = rng
        self.runs = self.succeeded = self.failed = 0
        self.timed_out = self.cancelled = self.skipped = 0
        self.in_flight = False
        self.last_started: float | None = None
        self.last_duration: float | None = None
        self.next_fire: float | None = None
        self.run_requested = False
        self.removed = False
        # At most one of these is set: the loop is asleep or running. An
        # idle loop so holds one cancel scope, as a bare sleep_until does.
        self._sleeper: trio.lowlevel.Task | None = None
        self._run_scope: trio.CancelScope | None = None
        # What current_run() tells, kept as references to values the loop
        # has anyway: a tick allocates nothing for it.
        self._anchor = 0.0
        self._run_index: int | None = None
        self._run_scheduled = 0.0
        self._run_lateness = 0.0

    def run_context(self) -> RunContext:
        """The `RunContext` of the run in flight (for `current_run`).

        Raises:
            NotInRunError: no run is in flight (a task the run started
                outlived it).
        """
        if not self.in_flight:
            msg = f"loop {brief(self.loop.name)} has no run in flight"
            raise NotInRunError(msg)
        index = self._run_index
        scheduled = self._run_scheduled
        window = (
            scheduled
            if index is None
            else self.schedule.instant(self._anchor, index, _NO_JITTER)
        )
        return RunContext(
            name=self.loop.name,
            window=window,
            scheduled=scheduled,
            lateness=self._run_lateness,
        )

    def stats(self) -> LoopStats:
        """A frozen snapshot of the counters."""
        return LoopStats(
            runs=self.runs,
            succeeded=self.succeeded,
            failed=self.failed,
            timed_out=self.timed_out,
            cancelled=self.cancelled,
            skipped=self.skipped,
            in_flight=self.in_flight,
            last_started=self.last_started,
            last_duration=self.last_duration,
            next_fire=self.next_fire,
        )

    def wake(self) -> None:
        """End the current sleep early (for run_now and stop); no-op if awake."""
        task = self._sleeper
        if task is not None:
            self._sleeper = None
            trio.lowlevel.reschedule(task)

    def _abort_sleep(self, _raise_cancel: object) -> trio.lowlevel.Abort:
        # The deadline passed or an enclosing scope is cancelling: the sleep
        # ends with Cancelled, and wake must not reschedule the task any more.
        self._sleeper = None
        return trio.lowlevel.Abort.SUCCEEDED

    def cancel(self) -> None:
        """End the loop, cancelling its in-flight run if any (for remove)."""
        self.removed = True
        if self._run_scope is not None:
            self._run_scope.cancel()
        if self.background is not None:
            self.background.cancel()
        self.wake()

    async def run(self, life: Life) -> None:
        """The loop's task: sleep, run, skip what passed, until stopped."""
        schedule, rng, loop = self.schedule, self.rng, self.loop
        self._anchor = anchor = trio.current_time()
        set_source(self)  # this task's context, inherited by the runs' tasks
        if loop.run_on_start:
            index, next_fire = 0, anchor
        else:
            index, next_fire = 1, schedule.instant(anchor, 1, rng)
        while True:
            self.next_fire = next_fire
            # stop() wakes sleeping loops; a loop that was running when it was
            # called sees it here, before it would go back to sleep.
            idle = not (life.stopping or self.removed or self.run_requested)
            if idle and next_fire > trio.current_time():
                with trio.CancelScope(deadline=next_fire):
                    self._sleeper = trio.lowlevel.current_task()
                    await trio.lowlevel.wait_task_rescheduled(self._abort_sleep)
            elif life.stopping or self.removed:
                break
            else:
                # No sleep this time (late, or run_now): still a checkpoint,
                # so a loop whose fn never awaits cannot starve the others.
                await trio.lowlevel.checkpoint()
            if life.stopping or self.removed:
                break
            self.next_fire = None
            now = trio.current_time()
            # One run answers a run_now request and the tick, whichever came.
            self.run_requested = False
            if next_fire <= now:
                # Woke for next_fire, perhaps late: it fires now, as lateness.
                lateness = now - next_fire
                self._run_index = index
                self._run_scheduled = next_fire
                index += 1
                next_fire = schedule.instant(anchor, index, rng)
                if next_fire <= now:  # more instants passed during the late wake
                    missed = schedule.skip_missed(anchor, index, next_fire, now, rng)
                    self._skipped(life, missed.skipped, _LATE_WAKE, lateness)
                    index, next_fire = missed.next_index, missed.next_instant
            else:  # run_now woke the loop before its instant
                lateness = 0.0
                self._run_index = None
                self._run_scheduled = now
            self._run_lateness = lateness
            await self._run_once(life, now, lateness)
            now = trio.current_time()
            if next_fire <= now:  # the on-time case allocates nothing here
                missed = schedule.skip_missed(anchor, index, next_fire, now, rng)
                self._skipped(life, missed.skipped, _OVERRUN, self.last_duration)
                index, next_fire = missed.next_index, missed.next_instant
        self.next_fire = None

    def _skipped(self, life: Life, count: int, message: str, seconds: object) -> None:
        """Count and report *count* skipped ticks; *message* says why."""
        self.skipped += count
        name = self.loop.name
        LOGGER.warning(
            message,
            brief(name),
            seconds,
            count,
            extra={"tickwork_loop": name, "tickwork_skipped": count},
        )
        life.hooks.emit("on_tick_skipped", loop=name, count=count)

    async def _run_once(self, life: Life, started: float, lateness: float) -> None:
        loop, hooks = self.loop, life.hooks
        self.runs += 1
        self.in_flight = True
        self.last_started = started
        if LOGGER.isEnabledFor(logging.DEBUG):
            LOGGER.debug(
                "loop %s: run %d started, %.6f s late",
                brief(loop.name),
                self.runs,
                lateness,
            )
        # The guards keep an event without listeners free of allocations.
        if hooks.wants("on_run_started"):
            hooks.emit("on_run_started", loop=loop.name, lateness=lateness)
        outcome = CANCELLED
        cut = False
        deadline = math.inf if loop.timeout is None else started + loop.timeout
        try:
            # The run's own scope carries the timeout and lets remove() cancel
            # just this run; shutdown cancels through the nursery.
            with trio.CancelScope(deadline=deadline) as self._run_scope:
                await (
                    loop.fn()
                    if self.background is None
                    else cast("HandsOff", loop.fn).run(self.background)
                )
            if not self._run_scope.cancelled_caught:
                outcome = SUCCEEDED
            elif not self.removed:
                outcome = TIMED_OUT
        except Exception:
            outcome = FAILED
            LOGGER.exception(
                "loop %s: run %d failed",
                brief(loop.name),
                self.runs,
                extra={"tickwork_loop": loop.name},
            )
        except BaseException:
            # Cancelled, or a group of them from a nursery inside fn: what
            # tells is whether an enclosing scope is cancelling this task.
            cut = trio.current_effective_deadline() == -math.inf
            if cut:
                self.cancelled += 1
            raise
        finally:
            self._run_scope = None
            self.in_flight = False
            if (cut or life.stopping) and not self.removed:
                life.note_end(loop.name, cut_by_scope=cut)
            self.last_duration = duration = trio.current_time() - started
            if hooks.wants("on_run_finished"):
                hooks.emit(
                    "on_run_finished",
                    loop=loop.name,
                    outcome=outcome,
                    duration=duration,
                    lateness=lateness,
                )
        self._count(life, outcome, duration)

    def _count(self, life: Life, outcome: str, duration: float) -> None:
        """Count a run that ended without propagating, and log a timeout."""
        if outcome is SUCCEEDED:
            self.succeeded += 1
        elif outcome is FAILED:
            self.failed += 1
        elif outcome is CANCELLED:  # by remove()
            self.cancelled += 1
        else:
            self.timed_out += 1
            LOGGER.warning(
                "loop %s: run %d timed out after %.3f s",
                brief(self.loop.name),
                self.runs,
                duration,
                extra={"tickwork_loop": self.loop.name},
            )
            life.hooks.emit("on_run_timed_out", loop=self.loop.name, duration=duration)
