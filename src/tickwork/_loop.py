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
from tickwork._cron import CronSchedule
from tickwork._errors import InvalidConfigError, WrongTypeError
from tickwork._text import brief
from tickwork._ticker import TickSchedule
from tickwork._validation import (
    attrs_at_least,
    attrs_bool,
    attrs_choice,
    attrs_finite,
    attrs_fraction,
    attrs_name,
    attrs_optional_positive,
    attrs_positive_int,
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
REPLACED: Final = "replaced"


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


Overlap = Literal["skip", "buffer_one", "replace"]
OVERLAPS: Final = ("skip", "buffer_one", "replace")
CatchUp = Literal["latest", "skip", "all"]
CATCH_UPS: Final = ("latest", "skip", "all")

Delivery = Literal["at_most_once", "at_least_once"]
DELIVERIES: Final = ("at_most_once", "at_least_once")


def _delivery(_inst: object, _attribute: attrs.Attribute[Any], value: object) -> None:
    check_delivery(value)


def log_update(loop: Loop) -> None:
    """Log that *loop*'s new configuration took effect (every kind of runner)."""
    if loop.schedule is not None:
        when = f"schedule {brief(loop.schedule.expression)} in {loop.schedule.timezone}"
    else:
        when = f"interval {loop.interval:g} s, jitter {loop.jitter:g}"
    LOGGER.info(
        "loop %s updated: %s, timeout %s",
        brief(loop.name),
        when,
        loop.timeout,
        extra={"tickwork_loop": loop.name},
    )


def _schedule(_inst: object, _attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not isinstance(value, CronSchedule):
        msg = f"'schedule' must be a CronSchedule or None (got {brief(value)})"
        raise WrongTypeError(msg)


def _default_jitter(loop: Loop) -> float:
    return 0.1 if loop.schedule is None else 0.0


def _default_run_on_start(loop: Loop) -> bool:
    return loop.schedule is None


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
            timer granularity). Give it or *schedule*, not both.
        schedule: a `CronSchedule`: the loop runs at its calendar fire times,
            read from the scheduler's wall clock (see "Calendar schedules
            and DST"). Give it or *interval*, not both. A schedule with
            jitter and no ``key`` is keyed by the loop's name, so loops
            sharing it spread apart (see `fire_schedule`).
        jitter: spread of each run around its grid point, as a fraction of
            *interval*, in [0, 1) (see `TickSchedule`); 0.1 by default. A
            calendar loop takes its jitter from its `CronSchedule`: 0 here.
        timeout: None, or seconds after which a run is cancelled and counted
            as timed out; finite and > 0.
        run_on_start: run once as soon as the loop starts (else the first run
            comes one interval, jittered, later); True by default. A calendar
            loop defaults to False (its first run is its next fire time);
            with True it runs its latest fire time that passed, at once. For
            a coordinated loop
            that never ran on any replica: run the latest window whose
            instant has passed (else wait for the next window); once it has
            run somewhere, windows missed before a start are ``catch_up``'s.
        coordinated: run each window on one replica only, claiming it in the
            scheduler's store (`Scheduler` needs ``store=``). Its windows
            start at ``phase + k * interval`` seconds after the Unix epoch,
            the same on every replica, not at the process start (a calendar
            loop's windows are its schedule's fire times).
        phase: seconds added to the Unix epoch to anchor a coordinated loop's
            windows; finite. Ignored for in-process and calendar loops.
        delivery: for a coordinated loop, ``"at_most_once"`` (a window whose
            replica dies mid-run is recorded as lost) or ``"at_least_once"``
            (it is run again elsewhere, attempt 2, 3, ...).
        overlap: what a tick that comes while a run is in flight does:
            ``"skip"`` (it is skipped and counted), ``"buffer_one"`` (the
            first such tick runs as soon as the run ends, later ones are
            skipped) or ``"replace"`` (the run is cancelled, counted as
            replaced, and the tick's run starts). See the tutorial's
            "Choosing a policy".
        catch_up: coordinated loops: what runs for windows that passed while
            no replica could run them (all down, the store away):
            ``"latest"`` (one run, for the most recent, with a WARNING),
            ``"skip"`` (none; the next window fires on time) or ``"all"``
            (each in order, at most *catch_up_limit*; older ones are
            recorded as lost). In-process loops have no downtime to catch
            up: a late wake-up runs once, as ``"latest"``.
        catch_up_limit: with ``catch_up="all"``, the most missed windows run;
            an int >= 1.

    Raises:
        InvalidConfigError: a value is out of range (a `ValueError`).
        WrongTypeError: a value has the wrong type (a `TypeError`).

    Example:
        >>> async def sweep_sessions() -> None: ...
        >>> loop = Loop(name="sessions", fn=sweep_sessions, interval=60, timeout=10)
        >>> loop.tick_schedule
        TickSchedule(interval=60, jitter=0.1)
        >>> nightly = Loop(
        ...     name="export",
        ...     fn=sweep_sessions,
        ...     schedule=CronSchedule("30 2 * * *", timezone="Europe/Berlin"),
        ... )
        >>> nightly.interval is None, nightly.run_on_start
        (True, False)
    """

    name: str = attrs.field(validator=attrs_name)
    fn: Callable[[], Awaitable[object]] = attrs.field(validator=_fn, eq=False)
    interval: float | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs_at_least(MIN_INTERVAL))
    )
    schedule: CronSchedule | None = attrs.field(default=None, validator=_schedule)
    jitter: float = attrs.field(
        default=attrs.Factory(_default_jitter, takes_self=True),
        validator=attrs_fraction,
    )
    timeout: float | None = attrs.field(default=None, validator=attrs_optional_positive)
    run_on_start: bool = attrs.field(
        default=attrs.Factory(_default_run_on_start, takes_self=True),
        validator=attrs_bool,
    )
    coordinated: bool = attrs.field(default=False, validator=attrs_bool)
    phase: float = attrs.field(default=0.0, validator=attrs_finite)
    delivery: Delivery = attrs.field(default="at_most_once", validator=_delivery)
    overlap: Overlap = attrs.field(default="skip", validator=attrs_choice(*OVERLAPS))
    catch_up: CatchUp = attrs.field(
        default="latest", validator=attrs_choice(*CATCH_UPS)
    )
    catch_up_limit: int = attrs.field(default=10, validator=attrs_positive_int)

    def __attrs_post_init__(self) -> None:
        if (self.interval is None) == (self.schedule is None):
            given = "both" if self.schedule is not None else "neither"
            msg = (
                "a Loop takes exactly one of 'interval' (seconds) and 'schedule' "
                f"(a CronSchedule); got {given} (loop {brief(self.name)})"
            )
            raise InvalidConfigError(msg)
        if self.schedule is not None and self.jitter != 0:
            msg = (
                "'jitter' must be 0 for a calendar loop: CronSchedule(jitter=...) "
                f"spreads its fire times (got {self.jitter!r})"
            )
            raise InvalidConfigError(msg)

    @property
    def tick_schedule(self) -> TickSchedule:
        """The interval loop's `TickSchedule`.

        Raises:
            InvalidConfigError: a calendar loop (see `schedule`).
        """
        if self.interval is None:
            msg = f"loop {brief(self.name)} is a calendar loop: see its 'schedule'"
            raise InvalidConfigError(msg)
        return TickSchedule(interval=self.interval, jitter=self.jitter)

    @property
    def calendar(self) -> bool:
        """Whether the loop runs on a `CronSchedule`."""
        return self.schedule is not None

    @property
    def fire_schedule(self) -> CronSchedule:
        """The `CronSchedule` a calendar loop fires on.

        Its `schedule`, keyed by the loop's name when it has jitter and no
        ``key`` of its own: loops that share a schedule spread apart, as
        interval loops' windows do. ``loop.fire_schedule.next_fire_times``
        tells when the loop runs.

        Raises:
            InvalidConfigError: an interval loop (see `tick_schedule`).
        """
        schedule = self.schedule
        if schedule is None:
            msg = f"loop {brief(self.name)} is an interval loop: see its 'interval'"
            raise InvalidConfigError(msg)
        if schedule.jitter and not schedule.key:
            return attrs.evolve(schedule, key=self.name)
        return schedule


_OVERRUN: Final = "loop %s overran: its run took %.3f s and %d tick(s) were skipped"
_BUFFERED: Final = (
    "loop %s overran: its run took %.3f s; its first missed tick runs now and "
    "%d more were skipped"
)
_PAUSED: Final = "loop %s is paused: %d window(s) not run"
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
    paused: int = 0
    """Windows that came while the loop was paused: not run, not skips."""
    replaced: int = 0
    """Runs cancelled because the next tick came (``overlap="replace"``)."""
    caught_up: int = 0
    """Coordinated: runs of windows that passed while no replica could run
    them (see ``catch_up``)."""
    missed: int = 0
    """Coordinated: windows that passed while no replica could run them and
    that the ``catch_up`` policy did not run ("latest", "skip"); those beyond
    ``catch_up_limit`` count as `lost`."""


@final
@attrs.define
class Controls:
    """What only pause, update and ``overlap="replace"`` use, kept aside."""

    paused: bool = False
    update: Loop | None = None
    """A new configuration, taken at the next due tick."""
    paused_windows: int = 0
    replaced: int = 0
    run_limit: float = math.inf
    """The run in flight's own deadline (its timeout), for a pause to restore."""
    replace_at: float = math.inf
    """The next tick of the run in flight, for a resume to restore."""

    @property
    def attend(self) -> bool:
        """Whether a due tick must look at these."""
        return self.paused or self.update is not None


_NO_CONTROLS: Final = Controls()


class LoopRunner:
    """The live state of one loop inside a running scheduler."""

    __slots__ = (
        "_anchor",
        "_controls",
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
        self.schedule: TickSchedule
        if loop.interval is not None:  # a calendar loop's runner has a grid
            self.schedule = loop.tick_schedule
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
        # Pause, update and the counters only they move: made on first use,
        # so an idle loop that never uses them holds one slot for them.
        self._controls: Controls | None = None

    @property
    def in_flight_or_paused(self) -> bool:
        """Whether `Scheduler.run_now` must refuse: running, or paused."""
        controls = self._controls
        return self.in_flight or (controls is not None and controls.paused)

    def controls(self) -> Controls:
        """The loop's `Controls`, made on first use."""
        if self._controls is None:
            self._controls = Controls()
        return self._controls

    def pause(self) -> bool:
        """Stop running windows from the next one; False if already paused."""
        controls = self.controls()
        if controls.paused:
            return False
        controls.paused = True
        self._keep_run()  # a paused loop starts nothing to replace this run
        return True

    def resume(self) -> bool:
        """Run windows again, on the grid; False if it was not paused."""
        controls = self.controls()
        if not controls.paused:
            return False
        controls.paused = False
        if self._run_scope is not None and self.loop.overlap == "replace":
            self._run_scope.deadline = min(controls.run_limit, controls.replace_at)
        return True

    def update(self, loop: Loop) -> None:
        """Take *loop*'s schedule and timeout from the next window on."""
        self.controls().update = loop

    @property
    def configured(self) -> Loop:
        """The loop as last configured: a pending update, or the one running."""
        controls = self._controls
        if controls is not None and controls.update is not None:
            return controls.update
        return self.loop

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
        controls = self._controls or _NO_CONTROLS
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
            paused=controls.paused_windows,
            replaced=controls.replaced,
        )

    def wake(self) -> None:
        """End the current sleep early (for run_now and stop); no-op if awake."""
        task = self._sleeper
        if task is not None:
            self._sleeper = None
            trio.lowlevel.reschedule(task)

    def stop(self) -> None:
        """The scheduler is stopping: wake, and let a run in flight use the grace.

        A replace-policy run would otherwise be cut by the next tick, which
        no longer starts a run: it keeps its own deadline (its timeout), and
        the grace deadline cuts it as it cuts any run.
        """
        self.wake()
        self._keep_run()

    def _keep_run(self) -> None:
        """Give a replace-policy run in flight its own deadline back.

        For stop and pause: the next tick will start no run, so it must not
        cut this one.
        """
        scope, controls = self._run_scope, self._controls
        if (
            scope is not None
            and controls is not None
            and self.loop.overlap == "replace"
        ):
            scope.deadline = controls.run_limit

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

    async def run(self, life: Life) -> None:  # noqa: C901, PLR0912, PLR0915 - one inlined hot loop
        """The loop's task: sleep, run, skip what passed, until stopped."""
        schedule, rng, loop = self.schedule, self.rng, self.loop
        self._anchor = anchor = trio.current_time()
        set_source(self)  # this task's context, inherited by the runs' tasks
        if loop.run_on_start:
            index, next_fire = 0, anchor
        else:
            index, next_fire = 1, schedule.instant(anchor, 1, rng)
        # How a tick that is already due when the loop looks is reported:
        # a late wake-up, or a buffered tick after an overrun.
        late = _LATE_WAKE
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
                controls = self._controls
                if controls is not None and controls.attend:
                    # Paused or updated: the rare path, out of line.
                    anchor, index, next_fire, run = self._attend(
                        life, controls, anchor, index, next_fire, now
                    )
                    schedule, loop = self.schedule, self.loop
                    if not run:
                        late = _LATE_WAKE
                        continue
                # Woke for next_fire, perhaps late: it fires now, as lateness.
                lateness = now - next_fire
                self._run_index = index
                self._run_scheduled = next_fire
                index += 1
                next_fire = schedule.instant(anchor, index, rng)
                if next_fire <= now:  # more instants passed during the late wake
                    missed = schedule.skip_missed(anchor, index, next_fire, now, rng)
                    seconds = lateness if late is _LATE_WAKE else self.last_duration
                    self._skipped(life, missed.skipped, late, seconds)
                    index, next_fire = missed.next_index, missed.next_instant
                late = _LATE_WAKE
            else:  # run_now woke the loop before its instant
                lateness = 0.0
                self._run_index = None
                self._run_scheduled = now
            self._run_lateness = lateness
            await self._run_once(life, now, lateness, next_fire)
            now = trio.current_time()
            if next_fire <= now:  # the on-time case allocates nothing here
                controls = self._controls
                if loop.overlap != "skip" or (controls is not None and controls.paused):
                    # buffer_one: the first missed tick runs now; replace: the
                    # tick that cut the run starts its own. Further ones are
                    # skipped as a late wake-up's are. Paused meanwhile: the
                    # ticks that passed count as paused, not skipped.
                    late = _BUFFERED
                    continue
                missed = schedule.skip_missed(anchor, index, next_fire, now, rng)
                self._skipped(life, missed.skipped, _OVERRUN, self.last_duration)
                index, next_fire = missed.next_index, missed.next_instant
        self.next_fire = None

    def _attend(  # noqa: PLR0913, PLR0917 - the loop's position, in and out
        self,
        life: Life,
        controls: Controls,
        anchor: float,
        index: int,
        next_fire: float,
        now: float,
    ) -> tuple[float, int, float, bool]:
        """Apply a pending update, then a pause, at a due tick.

        Returns the new ``(anchor, index, next_fire)`` and whether the tick
        runs. An update re-anchors the grid at this window's nominal start;
        a paused loop counts this window and the ones that also passed, and
        sleeps towards the next, so a resume runs on the grid, no burst.
        """
        update = controls.update
        if update is not None:
            controls.update = None
            anchor = self.schedule.instant(anchor, index, _NO_JITTER)
            index = 0
            self.loop = update
            self.schedule = update.tick_schedule
            self._anchor = anchor
            log_update(update)
        if not controls.paused:
            return anchor, index, next_fire, True
        missed = self.schedule.skip_missed(anchor, index, next_fire, now, self.rng)
        controls.paused_windows += missed.skipped
        name = self.loop.name
        LOGGER.debug(_PAUSED, brief(name), missed.skipped)
        life.hooks.emit(
            "on_window_paused", name=name, count=missed.skipped, kind="loop"
        )
        return anchor, missed.next_index, missed.next_instant, False

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

    def _replace_at(self, limit: float, next_fire: float) -> float:
        """A replace-policy run's deadline: the next tick, or its own *limit*."""
        controls = self.controls()
        controls.run_limit = limit
        controls.replace_at = next_fire
        if controls.paused:  # a paused loop starts nothing to replace it
            return limit
        return min(limit, next_fire)

    async def _run_once(  # noqa: C901 - one run's every ending, kept inline
        self, life: Life, started: float, lateness: float, next_fire: float
    ) -> None:
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
        limit = math.inf if loop.timeout is None else started + loop.timeout
        deadline = limit
        if loop.overlap == "replace":
            deadline = self._replace_at(limit, next_fire)
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
            elif not self.removed:  # else cancelled by remove()
                outcome = REPLACED if self._run_scope.deadline < limit else TIMED_OUT
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
        elif outcome is REPLACED:
            self.controls().replaced += 1
            LOGGER.info(
                "loop %s: run %d replaced by the next tick after %.3f s",
                brief(self.loop.name),
                self.runs,
                duration,
                extra={"tickwork_loop": self.loop.name},
            )
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
