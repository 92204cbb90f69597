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
from typing import TYPE_CHECKING, Any, Final, Protocol, final

import attrs
import trio

from tickwork._errors import InvalidConfigError, WrongTypeError
from tickwork._ticker import TickSchedule
from tickwork._validation import attrs_fraction, attrs_optional_positive, attrs_positive

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from tickwork._hooks import Hooks
    from tickwork._rng import JitterSource

LOGGER = logging.getLogger("tickwork.loop")

SUCCEEDED: Final = "succeeded"
FAILED: Final = "failed"
TIMED_OUT: Final = "timed_out"
CANCELLED: Final = "cancelled"


def _name(_inst: object, _attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str):
        msg = f"'name' must be a str (got {value!r})"
        raise WrongTypeError(msg)
    if not value:
        msg = "'name' must be a non-empty str (got '')"
        raise InvalidConfigError(msg)


def _callable(_inst: object, _attribute: attrs.Attribute[Any], value: object) -> None:
    if not callable(value):
        msg = f"'fn' must be an async callable taking no arguments (got {value!r})"
        raise WrongTypeError(msg)


def _bool(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, bool):
        msg = f"{attribute.name!r} must be a bool (got {value!r})"
        raise WrongTypeError(msg)


@final
@attrs.frozen(kw_only=True)
class Loop:
    """A periodic job for a `Scheduler`: what to run and when.

    Args:
        name: unique within its scheduler; a non-empty str. It names the loop
            in logs, statistics and the shutdown report.
        fn: an async callable with no arguments, awaited once per run. Its
            return value is ignored; an `Exception` it raises is logged and
            counted, and the loop keeps its schedule.
        interval: seconds between nominal runs; finite and > 0.
        jitter: spread of each run around its grid point, as a fraction of
            *interval*, in [0, 1) (see `TickSchedule`).
        timeout: None, or seconds after which a run is cancelled and counted
            as timed out; finite and > 0.
        run_on_start: run once as soon as the loop starts (else the first run
            comes one interval, jittered, later).

    Raises:
        InvalidConfigError: a value is out of range (a `ValueError`).
        WrongTypeError: a value has the wrong type (a `TypeError`).

    Example:
        >>> async def sweep_sessions() -> None: ...
        >>> loop = Loop(name="sessions", fn=sweep_sessions, interval=60, timeout=10)
        >>> loop.schedule
        TickSchedule(interval=60, jitter=0.1)
    """

    name: str = attrs.field(validator=_name)
    fn: Callable[[], Awaitable[object]] = attrs.field(validator=_callable, eq=False)
    interval: float = attrs.field(validator=attrs_positive)
    jitter: float = attrs.field(default=0.1, validator=attrs_fraction)
    timeout: float | None = attrs.field(default=None, validator=attrs_optional_positive)
    run_on_start: bool = attrs.field(default=True, validator=_bool)

    @property
    def schedule(self) -> TickSchedule:
        """The loop's `TickSchedule`."""
        return TickSchedule(interval=self.interval, jitter=self.jitter)


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


class Owner(Protocol):
    """What a loop needs from its scheduler."""

    @property
    def stopping(self) -> bool:
        """True once shutdown began: no run starts any more."""
        ...

    @property
    def hooks(self) -> Hooks:
        """The scheduler's hook listeners."""
        ...

    def record_cut(self, name: str) -> None:
        """Note that shutdown cancelled this loop's run."""
        ...


@final
class LoopRunner:
    """The live state of one loop inside a running scheduler."""

    __slots__ = (
        "_run_scope",
        "_sleeper",
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

    def __init__(self, loop: Loop, rng: JitterSource) -> None:
        """Prepare a loop that has not started yet."""
        self.loop = loop
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
        self.wake()

    async def run(self, owner: Owner) -> None:
        """The loop's task: sleep, run, skip what passed, until stopped."""
        schedule, rng, loop = self.schedule, self.rng, self.loop
        anchor = trio.current_time()
        if loop.run_on_start:
            index, next_fire = 0, anchor
        else:
            index, next_fire = 1, schedule.instant(anchor, 1, rng)
        while True:
            self.next_fire = next_fire
            # stop() wakes sleeping loops; a loop that was running when it was
            # called sees it here, before it would go back to sleep.
            idle = not (owner.stopping or self.removed or self.run_requested)
            if idle and next_fire > trio.current_time():
                with trio.CancelScope(deadline=next_fire):
                    self._sleeper = trio.lowlevel.current_task()
                    await trio.lowlevel.wait_task_rescheduled(self._abort_sleep)
            if owner.stopping or self.removed:
                break
            self.next_fire = None
            now = trio.current_time()
            # One run answers a run_now request and the tick, whichever came.
            self.run_requested = False
            if next_fire <= now:
                # Woke for next_fire, perhaps late: it fires now, as lateness.
                lateness = now - next_fire
                index += 1
                next_fire = schedule.instant(anchor, index, rng)
            else:  # run_now woke the loop before its instant
                lateness = 0.0
            await self._run_once(owner, now, lateness)
            now = trio.current_time()
            if next_fire <= now:  # the on-time case allocates nothing here
                missed = schedule.skip_missed(anchor, index, next_fire, now, rng)
                self._skipped(owner, missed.skipped)
                index, next_fire = missed.next_index, missed.next_instant
        self.next_fire = None

    def _skipped(self, owner: Owner, count: int) -> None:
        self.skipped += count
        LOGGER.warning(
            "loop %r overran: its run took %.3f s and %d tick(s) were skipped",
            self.loop.name,
            self.last_duration,
            count,
            extra={"tickwork_loop": self.loop.name, "tickwork_skipped": count},
        )
        owner.hooks.emit("on_tick_skipped", loop=self.loop.name, count=count)

    async def _run_once(self, owner: Owner, started: float, lateness: float) -> None:
        loop, hooks = self.loop, owner.hooks
        self.runs += 1
        self.in_flight = True
        self.last_started = started
        LOGGER.debug(
            "loop %r: run %d started, %.6f s late", loop.name, self.runs, lateness
        )
        # The guards keep an event without listeners free of allocations.
        if hooks.wants("on_run_started"):
            hooks.emit("on_run_started", loop=loop.name, lateness=lateness)
        outcome = CANCELLED
        deadline = math.inf if loop.timeout is None else started + loop.timeout
        try:
            # The run's own scope carries the timeout and lets remove() cancel
            # just this run; shutdown cancels through the nursery.
            with trio.CancelScope(deadline=deadline) as self._run_scope:
                await loop.fn()
            if not self._run_scope.cancelled_caught:
                outcome = SUCCEEDED
            elif not self.removed:
                outcome = TIMED_OUT
        except Exception:
            outcome = FAILED
            LOGGER.exception(
                "loop %r: run %d failed",
                loop.name,
                self.runs,
                extra={"tickwork_loop": loop.name},
            )
        except BaseException:
            # Cancelled, or a group of them from a nursery inside fn: what
            # tells is whether an enclosing scope is cancelling this task.
            if trio.current_effective_deadline() == -math.inf:
                self.cancelled += 1
                if owner.stopping and not self.removed:
                    owner.record_cut(loop.name)
            raise
        finally:
            self._run_scope = None
            self.in_flight = False
            self.last_duration = duration = trio.current_time() - started
            if hooks.wants("on_run_finished"):
                hooks.emit(
                    "on_run_finished",
                    loop=loop.name,
                    outcome=outcome,
                    duration=duration,
                    lateness=lateness,
                )
        self._count(owner, outcome, duration)

    def _count(self, owner: Owner, outcome: str, duration: float) -> None:
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
                "loop %r: run %d timed out after %.3f s",
                self.loop.name,
                self.runs,
                duration,
                extra={"tickwork_loop": self.loop.name},
            )
            owner.hooks.emit("on_run_timed_out", loop=self.loop.name, duration=duration)
