"""An in-process calendar loop: a `CronSchedule`'s fire times, on one process.

The fire times are wall-clock instants (`Scheduler(wall_clock=...)`), but
the loop sleeps on Trio's clock, which a wall-clock step does not move: it
converts the wait to Trio's clock, and one `WallWatch` a scheduler reads the
wall clock every `RECHECK` seconds and wakes the sleeping loops when it
moved. A step back re-sleeps towards the same fire time (a window already
run never runs again); a step forward, like a late wake-up, runs the latest
fire time that passed, once, and counts the others skipped; during a run
too (`stepped_forward`), whatever the overlap policy. A replace run is cut
when the wall clock reaches the next fire time (`_cut_at` reads it at least
every `RECHECK` seconds), so a step moves the cut with it.

Runs, timeouts, overlap policies, pause, update and the statistics are
`LoopRunner`'s; only the schedule differs. A window is named by its
nominal start in microseconds since the epoch (`CalendarGrid`).
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Final, Protocol, final

import trio

from tickwork._context import RunContext, set_source, utc
from tickwork._cron import CalendarGrid
from tickwork._lease import micros
from tickwork._loop import (
    _BUFFERED,
    _OVERRUN,
    _PAUSED,
    LoopRunner,
    log_update,
)
from tickwork._text import brief

if TYPE_CHECKING:
    from collections.abc import Callable

    from tickwork._life import Life
    from tickwork._loop import Controls, Loop
    from tickwork._rng import JitterSource

LOGGER = logging.getLogger("tickwork.loop")

_BEHIND: Final = (
    "loop %s is %.3f s behind its calendar (the wall clock stepped forward, "
    "or a late wake): its latest fire time runs now and the %d before it "
    "were skipped"
)
RECHECK: Final = 60.0
"""The longest sleep, in seconds, before the wall clock is read again."""
STEP: Final = 1.0
"""How far, in seconds, the wall clock must run ahead of Trio's during a run,
beyond `DRIFT`, to count as a step forward."""
DRIFT: Final = 0.002
"""How fast, in seconds per second, two clocks may part and still be drift:
four times the fastest NTP slew (0.05 %)."""


def stepped_forward(wall_elapsed: float, elapsed: float) -> bool:
    """Whether the wall clock stepped forward while Trio's advanced *elapsed* s.

    *wall_elapsed*: how far the wall clock advanced meanwhile. Drift of up
    to `DRIFT` over a long run is not a step.
    """
    return wall_elapsed - elapsed > STEP + DRIFT * elapsed


SLACK: Final = 0.01
"""How far, in seconds, the wall clock may move against Trio's before the
calendar loops asleep are woken to convert their fire times again."""


class Watched(Protocol):
    """A loop the watch wakes: calendar loops, and coordinated loops."""

    async def run(self, life: Life) -> None:
        """The loop's task."""
        ...

    def wake(self) -> None:
        """End the current sleep early; no-op if awake."""
        ...


@final
class WallWatch:
    """Reads the wall clock every `RECHECK` seconds for a scheduler's calendar loops.

    Each calendar loop sleeps on Trio's clock until its fire time converted
    to it; when the wall clock has moved against Trio's by more than
    `SLACK` since it last woke them (a step, or two clocks drifting), every one
    asleep is woken to convert its fire time again; coordinated loops, whose
    windows are wall-clock instants too, are woken alike. One task a scheduler,
    so an idle calendar loop costs no wake-ups of its own between fire
    times, and a step is seen within `RECHECK` seconds.
    """

    __slots__ = ("runners", "started", "wall_clock")

    def __init__(self, wall_clock: Callable[[], float]) -> None:
        """Watch *wall_clock*; nothing runs before `run`."""
        self.wall_clock = wall_clock
        self.runners: set[Watched] = set()
        self.started = False

    async def follow(self, runner: Watched, life: Life) -> None:
        """Run *runner*'s task, waking it when the wall clock moves meanwhile."""
        self.runners.add(runner)
        try:
            await runner.run(life)
        finally:
            self.runners.discard(runner)

    async def run(self) -> None:
        """Look every `RECHECK` seconds until cancelled (with the scheduler)."""
        wall = self.wall_clock
        base = wall() - trio.current_time()
        while True:
            await trio.sleep(RECHECK)
            offset = wall() - trio.current_time()
            if abs(offset - base) > SLACK:
                base = offset
                for runner in tuple(self.runners):
                    runner.wake()


def _grid(loop: Loop) -> CalendarGrid:
    return CalendarGrid(loop.fire_schedule)


@final
class CalendarRunner(LoopRunner):
    """The live state of one calendar loop inside a running scheduler."""

    __slots__ = ("grid", "wall_clock")

    def __init__(
        self,
        loop: Loop,
        rng: JitterSource,
        life: Life,
        wall_clock: Callable[[], float],
    ) -> None:
        """Prepare *loop*, reading fire times against *wall_clock*.

        Its task runs under `WallWatch.follow`, which wakes it when the wall
        clock moves.
        """
        super().__init__(loop, rng, life)
        self.grid = _grid(loop)
        self.wall_clock = wall_clock

    def run_context(self) -> RunContext:
        """The run in flight: its window and fire time as UTC datetimes."""
        if not self.in_flight:
            return super().run_context()  # raises NotInRunError
        scheduled = utc(micros(self._run_scheduled))
        index = self._run_index
        return RunContext(
            name=self.loop.name,
            window=scheduled if index is None else utc(index),
            scheduled=scheduled,
            lateness=self._run_lateness,
        )

    async def run(self, life: Life) -> None:  # noqa: C901, PLR0912, PLR0915 - one hot loop
        """The loop's task: sleep towards each fire time, run, until stopped."""
        wall = self.wall_clock
        set_source(self)
        now = wall()
        grid = self.grid
        index = grid.last_due(now) if self.loop.run_on_start else grid.first_after(now)
        fire = grid.fire(index)
        buffered = False  # an overrun's first missed window runs next
        while True:
            now = wall()
            here = trio.current_time()
            self.next_fire = here + (fire - now)
            idle = not (life.stopping or self.removed or self.run_requested)
            if idle and fire > now:
                # Until the fire time on Trio's clock; the WallWatch wakes
                # the loop if the wall clock moves meanwhile.
                with trio.CancelScope(deadline=here + (fire - now)):
                    self._sleeper = trio.lowlevel.current_task()
                    await trio.lowlevel.wait_task_rescheduled(self._abort_sleep)
                awake = life.stopping or self.removed or self.run_requested
                if not awake and wall() < fire:
                    continue  # woken by the watch, or the wall clock stepped back
            elif life.stopping or self.removed:
                break
            else:
                await trio.lowlevel.checkpoint()
            if life.stopping or self.removed:
                break
            self.next_fire = None
            requested, self.run_requested = self.run_requested, False
            now = wall()
            if fire > now and not requested:
                continue  # the wall clock stepped back meanwhile: sleep again
            if fire > now:  # run_now woke the loop before its fire time
                self._run_index = None
                self._run_scheduled = now
                lateness = 0.0
            else:
                controls = self._controls
                if controls is not None and controls.attend:
                    grid, index, run = self._attend_calendar(life, controls, index, now)
                    if not run:
                        fire, buffered = grid.fire(index), False
                        continue
                following = grid.following(index)
                upcoming = grid.fire(following)
                if upcoming <= now:
                    if buffered:  # the overrun's first missed window; skip the rest
                        after = grid.first_after(now)
                        self._skipped(
                            life,
                            grid.count(following, after),
                            _BUFFERED,
                            self.last_duration,
                        )
                        following = after
                    else:  # woke late, or the wall clock stepped forward
                        latest = grid.last_due(now)
                        self._skipped(
                            life, grid.count(index, latest), _BEHIND, now - fire
                        )
                        index = latest
                        fire = grid.fire(index)
                        following = grid.following(index)
                    upcoming = grid.fire(following)
                buffered = False
                lateness = now - fire
                self._run_index = index
                self._run_scheduled = fire
                index, fire = following, upcoming
            self._run_lateness = lateness
            started = trio.current_time()
            await self._run_once(life, started, lateness, fire)
            after_run = wall()
            if fire > after_run:
                continue
            if stepped_forward(after_run - now, trio.current_time() - started):
                # The wall clock stepped forward during the run: the loop is
                # behind its calendar, as after a late wake; the latest fire
                # time runs next, whatever the overlap policy.
                continue
            controls = self._controls
            if self.loop.overlap != "skip" or (
                controls is not None and controls.paused
            ):
                buffered = True  # buffer_one, replace: it runs next
                continue
            after = grid.first_after(after_run)
            self._skipped(life, grid.count(index, after), _OVERRUN, self.last_duration)
            index, fire = after, grid.fire(after)
        self.next_fire = None

    def _replace_at(self, limit: float, next_fire: float) -> float:  # noqa: ARG002 - see _cut_at
        """A replace run keeps its own *limit*: `_cut_at` cuts it at the fire time.

        *next_fire* is a wall-clock instant here, which a deadline on Trio's
        clock could not follow across a wall-clock step.
        """
        controls = self.controls()
        controls.run_limit = limit
        controls.replace_at = math.inf  # a resume before the fire time cuts nothing
        return limit

    async def _run_once(
        self, life: Life, started: float, lateness: float, next_fire: float
    ) -> None:
        """Run once; *next_fire*, on the wall clock, cuts a replace run."""
        if self.loop.overlap != "replace":
            await super()._run_once(life, started, lateness, next_fire)
            return
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._cut_at, life, next_fire)
            await super()._run_once(life, started, lateness, next_fire)
            nursery.cancel_scope.cancel()

    async def _cut_at(self, life: Life, fire: float) -> None:
        """Cut the run in flight when the wall clock reaches *fire*.

        Reads the wall clock at least every `RECHECK` seconds, so a step
        either way moves the cut with the fire time. Paused then, the cut
        waits for a resume (as an interval loop's does); stopping or
        removed, the run keeps its own deadline.
        """
        wall = self.wall_clock
        while (left := fire - wall()) > 0:  # noqa: ASYNC110 - a clock, not an event
            await trio.sleep(min(left, RECHECK))
        controls, scope = self.controls(), self._run_scope
        if controls.paused:
            controls.replace_at = trio.current_time()  # resume() cuts it
        elif scope is not None and not (life.stopping or self.removed):
            scope.deadline = min(scope.deadline, trio.current_time())

    def _attend_calendar(
        self, life: Life, controls: Controls, index: int, now: float
    ) -> tuple[CalendarGrid, int, bool]:
        """Apply a pending update, then a pause, at a due fire time.

        Returns the grid, the window to run or wait for, and whether it
        runs. An update takes the new schedule from this window on (this
        one fires as scheduled); a paused loop counts this window and those
        that also passed, and waits for the next.
        """
        update = controls.update
        if update is not None:
            controls.update = None
            self.loop = update
            self.grid = _grid(update)
            log_update(update)
        grid = self.grid
        if not controls.paused:
            return grid, index, True
        after = grid.first_after(now)
        count = max(1, grid.count(index, after))
        controls.paused_windows += count
        name = self.loop.name
        LOGGER.debug(_PAUSED, brief(name), count)
        life.hooks.emit("on_window_paused", name=name, count=count, kind="loop")
        return grid, after, False
