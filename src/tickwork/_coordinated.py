"""A coordinated loop: each window of a wall-clock grid runs on one replica only.

The loop's windows start at ``phase + k * interval`` seconds after the Unix
epoch, on every replica alike, and fire at a keyed-hash offset from there
(`WindowGrid`). At each fire instant the replica claims the window in the
store (`tickwork._lease`); only the winner runs it, under a lease that the
`Coordinator` renews and whose loss cuts the run (fenced). The outcome is
recorded against the claim's fencing token. A window another replica won
counts in ``claims_lost``; a window blocked by an earlier run's valid lease
is skipped, as an overrun skips ticks in one process.

When the store cannot be reached, the replica retries the claim every
`RETRY` seconds at most, always for the latest window due, so the first
run after an outage comes within that of the store's return. Windows that
passed while no replica could claim them (all down, the store away) are a
catch-up, which the store's claim rules find from the last window claimed
and the loop's ``catch_up`` policy settles: one run for the latest, none,
or each in order up to a limit (`tickwork._lease.catch_up`).

Policies: ``overlap="replace"`` cuts a run when the next window fires, and
its claim takes over a lease still held elsewhere (that holder is fenced at
its next renewal); ``"buffer_one"`` has the replica whose run overran claim
the first window missed meanwhile as soon as the run ends (other replicas
found it held and skipped it). A stored pause answers every claim
``paused``.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Final, final

import trio

from tickwork import _lease
from tickwork._calendar_loop import stepped_forward
from tickwork._context import RunContext, reset, set_source, utc
from tickwork._cron import CalendarGrid
from tickwork._grid import WindowGrid
from tickwork._lease import ANY_WINDOW, EARLY_US, Claim, micros
from tickwork._loop import (
    CANCELLED,
    FAILED,
    REPLACED,
    SUCCEEDED,
    TIMED_OUT,
    LoopStats,
    log_update,
)
from tickwork._text import brief

if TYPE_CHECKING:
    from collections.abc import Callable

    from tickwork._coordination import Coordinator, Hold
    from tickwork._life import Life
    from tickwork._loop import Loop

LOGGER = logging.getLogger("tickwork.loop")

RETRY: Final = 0.5
"""Longest wait, in seconds, between claims while the store is failing."""
LATE: Final = 1.0
"""Seconds after its fire instant from which a window claimed counts as
missed while nothing ran (a catch-up); half the interval if shorter."""
_FIRST_RETRY: Final = 0.05


@final
class CoordinatedRunner:
    """The live state of one coordinated loop inside a running scheduler."""

    background = None  # coordinated loops hand nothing off

    def __init__(
        self,
        loop: Loop,
        coordinator: Coordinator,
        wall_clock: Callable[[], float],
        key: str,
    ) -> None:
        """Prepare *loop*; *key* seeds its jitter, the same on every replica.

        Its task runs under `WallWatch.follow`, which wakes it when
        *wall_clock* moves.
        """
        self.loop = loop
        self.coordinator = coordinator
        self.wall_clock = wall_clock
        self.key = key
        self.grid = self._grid(loop)
        self.runs = self.succeeded = self.failed = 0
        self.timed_out = self.cancelled = self.skipped = 0
        self.fenced = self.lost = self.claims_lost = self.renewal_failures = 0
        self.paused = self.replaced = self.caught_up = self.missed = 0
        self._update: Loop | None = None
        self._hold: Hold | None = None  # the run in flight's lease
        self._timeout = math.inf  # the run in flight's own deadline
        self._catching_up = False  # an outage's catch-up was told, not over yet
        self.in_flight = False
        self.last_started: float | None = None
        self.last_duration: float | None = None
        self.next_fire: float | None = None
        self.run_requested = False  # run_now does not apply: see Scheduler
        self.removed = False
        self._sleep: trio.CancelScope | None = None
        self._run_scope: trio.CancelScope | None = None
        self._warned_store = False
        self._released = False

    # --- the interface the scheduler uses, as LoopRunner's ----------------------

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
            fenced=self.fenced,
            lost=self.lost,
            claims_lost=self.claims_lost,
            renewal_failures=self.renewal_failures,
            paused=self.paused,
            replaced=self.replaced,
            caught_up=self.caught_up,
            missed=self.missed,
        )

    @property
    def configured(self) -> Loop:
        """The loop as last configured: a pending update, or the one running."""
        return self.loop if self._update is None else self._update

    def update(self, loop: Loop) -> None:
        """Take *loop*'s configuration once the window in hand is settled."""
        self._update = loop

    def _grid(self, loop: Loop) -> WindowGrid | CalendarGrid:
        if loop.schedule is not None:
            return CalendarGrid(loop.fire_schedule)
        assert loop.interval is not None  # noqa: S101 - one of the two
        return WindowGrid(
            interval=loop.interval, jitter=loop.jitter, anchor=loop.phase, key=self.key
        )

    def wake(self) -> None:
        """End the current wait early (for stop); no-op if awake."""
        if self._sleep is not None:
            self._sleep.cancel()

    def stop(self) -> None:
        """The scheduler is stopping: wake, and let a run in flight use the grace.

        A replace-policy run keeps its own deadline (its timeout and fence)
        instead of the next window, which no longer starts a run here.
        """
        self.wake()
        self.keep_run()

    def keep_run(self) -> None:
        """This replica paused the loop: its run in flight is not replaced."""
        hold = self._hold
        if hold is not None and hold.limit < self._timeout:
            hold.limit = self._timeout
            hold.scope.deadline = min(self._timeout, hold.fence_at)

    def cancel(self) -> None:
        """End the loop, cancelling its in-flight run if any (for remove)."""
        self.removed = True
        if self._run_scope is not None:
            self._run_scope.cancel()
        self.wake()

    # --- the loop --------------------------------------------------------------

    def _trio_time(self, wall: float) -> float:
        """The Trio-clock instant of the wall-clock instant *wall*."""
        return trio.current_time() + (wall - self.wall_clock())

    async def _wait_until(self, deadline: float) -> None:
        with trio.CancelScope(deadline=deadline) as self._sleep:
            await trio.sleep_forever()
        self._sleep = None

    async def run(self, life: Life) -> None:  # noqa: C901, PLR0912, PLR0915 - the claim's every answer
        """The loop's task: wait for each window, claim it, run it if won."""
        grid, loop = self.grid, self.loop
        calendar = grid if isinstance(grid, CalendarGrid) else None
        # Start at the latest window due: whether it runs is the store's
        # call (a catch-up if windows passed since the last one claimed; for
        # a loop never claimed, run_on_start).
        index = grid.last_due(self.wall_clock())
        fresh = loop.run_on_start
        buffered = False  # buffer_one, replace: the window after a run is wanted
        floor = index  # windows below it were skipped while the buffered one ran
        retry = _FIRST_RETRY
        fire = grid.fire(index)
        while not (life.stopping or self.removed):
            self.next_fire = self._trio_time(fire)
            if self.next_fire > trio.current_time():
                # The WallWatch wakes the loop if the wall clock moves.
                await self._wait_until(self.next_fire)
            else:
                await trio.lowlevel.checkpoint()
            if self._ending(life):
                break
            self.next_fire = None
            now = self.wall_clock()
            if now < fire:  # woken by the watch, or the wall clock stepped back
                continue
            # The next window: a calendar's is its start plus its step.
            step = grid.step(index)
            following = grid.fire(index + step if calendar else index + 1)
            if following <= now and not buffered:
                # Woke late, or the store was away: the latest only.
                index = grid.last_due(now)
                fire = grid.fire(index)
                step = grid.step(index)
                following = grid.fire(index + step if calendar else index + 1)
            start = micros(grid.start(index))
            late = not buffered and now - fire > min(LATE, step / 2e6)
            looked, sent_at = now, trio.current_time()
            try:
                answer = await self.coordinator.claim(
                    Claim(
                        loop.name,
                        start,
                        micros(fire),
                        ANY_WINDOW if loop.delivery == "at_least_once" else None,
                        step=step,
                        late=late,
                        catch_up=loop.catch_up,
                        limit=loop.catch_up_limit,
                        fresh=fresh,
                        spread=micros(grid.spread),
                        replace=loop.overlap == "replace",
                        calendar=calendar,
                    )
                )
            except Exception as exc:  # noqa: BLE001 - retried; the window is not lost
                self._store_failed(exc)
                buffered = False  # after the store's return, the latest only
                await self._wait_until(trio.current_time() + retry)
                retry = min(retry * 2, RETRY, step / 1e6)
                continue
            retry = _FIRST_RETRY
            fresh = True
            wanted, buffered = buffered, False
            self._store_back()
            status = answer.status
            if status == _lease.EARLY:
                # The store's clock is behind ours: wait for it.
                ahead = (micros(fire) - EARLY_US - answer.now) / 1e6
                await self._wait_until(trio.current_time() + max(ahead, 0.001))
                continue
            self._caught(life, answer)
            if status == _lease.WON:
                if await self._won(
                    life, answer, start, (fire, following, sent_at), keep=wanted
                ):
                    continue  # claim again: the window wanted, or the latest
            elif status == _lease.TAKEN:
                self.claims_lost += 1
            elif status == _lease.HELD:
                self._skipped(life, 1)
            elif status == _lease.PAUSED:
                if answer.lost_window is not None:  # abandoned before the pause
                    self._lost(life, answer.lost_window)
                self.paused += 1
                life.hooks.emit(
                    "on_window_paused", name=loop.name, count=1, kind="loop"
                )
            if self._update is not None:
                grid, loop = self._apply_update()
                calendar = grid if isinstance(grid, CalendarGrid) else None
                index = floor = grid.first_after(self.wall_clock())
                fire = grid.fire(index)
                continue
            index = max(grid.following(index), floor)
            fire = grid.fire(index)
            now = self.wall_clock()
            if fire <= now and stepped_forward(
                now - looked, trio.current_time() - sent_at
            ):
                # The wall clock stepped forward meanwhile: the next claim
                # wants the latest window, as after a step while waiting.
                buffered = False
            elif fire <= now:  # a run outlasted the window
                if loop.overlap != "skip" and status == _lease.WON:
                    # buffer_one: the first window missed meanwhile runs now;
                    # replace: the window that cut the run starts its own.
                    # Those after it are skipped.
                    buffered = True
                    floor = grid.first_after(now)
                    self._skipped(life, grid.count(grid.following(index), floor))
                else:
                    index = grid.first_after(now)
                    fire = grid.fire(index)
        self.next_fire = None

    def _apply_update(self) -> tuple[WindowGrid | CalendarGrid, Loop]:
        loop = self._update
        assert loop is not None  # noqa: S101 - the caller checks
        self._update = None
        self.loop = loop
        self.grid = self._grid(loop)
        log_update(loop)
        return self.grid, loop

    def _caught(self, life: Life, answer: _lease.Claimed) -> None:
        """Report and count a catch-up, once per outage.

        With "all" every claim until the last window owed finds missed
        windows still; they belong to the catch-up already told.
        """
        if answer.missed == 0:
            self._catching_up = False
            return
        if self._catching_up and not answer.lost:
            return  # owed windows of a catch-up already told
        self._catching_up = True
        loop = self.loop
        lost = answer.lost
        if answer.status == _lease.MISSED:
            running = 0
        elif loop.catch_up == "all":
            running = answer.missed - lost
        else:
            running = int(answer.catching_up)
        self.missed += answer.missed - running - lost
        self.lost += lost
        LOGGER.warning(
            "loop %s: catch-up: %d window(s) passed while no replica could run "
            "them; catch_up=%s runs %d of them, %d recorded lost",
            brief(loop.name),
            answer.missed,
            loop.catch_up,
            running,
            lost,
            extra={"tickwork_loop": loop.name, "tickwork_missed": answer.missed},
        )
        life.hooks.emit(
            "on_catch_up",
            name=loop.name,
            missed=answer.missed,
            running=running,
            lost=lost,
            kind="loop",
        )

    async def _won(
        self,
        life: Life,
        answer: _lease.Claimed,
        start: int,
        moments: tuple[float, float, float],
        *,
        keep: bool,
    ) -> bool:
        """Run a won window; whether to claim again before moving on.

        *moments*: the window's fire instant, the next one's, and when the
        claim was sent. Again after a window run again (at least once: then
        the one wanted) and after a superseded one released (then the
        latest); *keep*: a window wanted after an overrun (buffer_one,
        replace) is never released as superseded.
        """
        fire, following, sent_at = moments
        if answer.lost_window is not None:
            self._lost(life, answer.lost_window)
        if not keep and await self._stale(answer, start, following):
            return True
        if trio.current_time() - sent_at > self.coordinator.lease / 3:
            # The claim waited long in the store (a pool reconnecting): its
            # lease is reckoned from the send, so renew it before the run.
            refreshed = await self.coordinator.refresh(self.loop.name, answer.token)
            if refreshed is None:
                self.fenced += 1
                return False
            sent_at = refreshed
        replace_at = math.inf
        if answer.window != start:  # an earlier window: re-run, or caught up
            assert answer.window is not None  # noqa: S101 - a won claim names it
            grid = self.grid
            fire = grid.fire(grid.index_of(answer.window))
        elif self.loop.overlap == "replace":
            replace_at = self._trio_time(following)
        await self._run_window(life, answer, fire, sent_at, replace_at)
        return answer.window != start

    async def _stale(
        self, answer: _lease.Claimed, start: int, following: float
    ) -> bool:
        """Release a won window that a later one superseded meanwhile.

        At most once: a claim that waited in the store until the next window
        began is released as cancelled, not run, so a store coming back
        never makes a burst of runs. (At least once runs it: it is owed.)
        Never twice in a row: where every claim takes longer than an
        interval, every other window still runs.
        """
        if (
            self.loop.delivery != "at_most_once"
            or answer.window != start
            or following > self.wall_clock()
            or self._released  # a store that is always this slow still runs
        ):
            self._released = False
            return False
        self._released = True
        self.skipped += 1
        LOGGER.info(
            "loop %s: its claim came back after the next window began; "
            "released, not run",
            brief(self.loop.name),
            extra={"tickwork_loop": self.loop.name},
        )
        try:
            await self.coordinator.finish(self.loop.name, answer.token, CANCELLED)
        except Exception:
            LOGGER.warning(
                "loop %s: could not release a superseded window",
                brief(self.loop.name),
                exc_info=True,
            )
        return True

    def _ending(self, life: Life) -> bool:
        return life.stopping or self.removed

    def _store_failed(self, exc: Exception) -> None:
        if not self._warned_store:
            self._warned_store = True
            LOGGER.warning(
                "loop %s: could not claim its window; retrying every %s s at most",
                brief(self.loop.name),
                RETRY,
                exc_info=exc,
                extra={"tickwork_loop": self.loop.name},
            )

    def _store_back(self) -> None:
        if self._warned_store:
            self._warned_store = False
            LOGGER.info("loop %s: the store answers again", brief(self.loop.name))

    def _lost(self, life: Life, window: int) -> None:
        self.lost += 1
        LOGGER.warning(
            "loop %s: window %s was lost: its holder vanished before recording "
            "an outcome",
            brief(self.loop.name),
            utc(window).isoformat(),
            extra={"tickwork_loop": self.loop.name, "tickwork_window": window},
        )
        life.hooks.emit(
            "on_window_lost", name=self.loop.name, window=utc(window), kind="loop"
        )

    def _skipped(self, life: Life, count: int) -> None:
        if count <= 0:
            return
        self.skipped += count
        LOGGER.info(
            "loop %s: %d window(s) skipped: an earlier run held the lease",
            brief(self.loop.name),
            count,
            extra={"tickwork_loop": self.loop.name},
        )
        life.hooks.emit("on_tick_skipped", loop=self.loop.name, count=count)

    async def _run_window(
        self,
        life: Life,
        answer: _lease.Claimed,
        fire: float,
        sent_at: float,
        replace_at: float,
    ) -> None:
        loop, hooks = self.loop, life.hooks
        assert answer.window is not None  # noqa: S101 - a won claim names it
        started = trio.current_time()
        wall_fire = utc(micros(fire))
        lateness = max(0.0, self.wall_clock() - fire)
        context = RunContext(
            name=loop.name,
            window=utc(answer.window),
            scheduled=wall_fire,
            lateness=lateness,
            attempt=answer.attempt,
            token=answer.token,
            catching_up=answer.catching_up,
        )
        self.caught_up += answer.catching_up
        self.runs += 1
        self.in_flight = True
        self.last_started = started
        if hooks.wants("on_run_started"):
            hooks.emit("on_run_started", loop=loop.name, lateness=lateness)
        outcome = CANCELLED
        cut = False
        timeout = math.inf if loop.timeout is None else started + loop.timeout
        limit = min(timeout, replace_at)
        scope = trio.CancelScope(deadline=min(limit, self.coordinator.fence(sent_at)))
        self._run_scope = scope
        hold: Hold = self.coordinator.hold(
            loop.name, answer.token, sent_at, scope, limit
        )
        self._hold, self._timeout = hold, timeout
        token = set_source(context)
        try:
            with scope:
                await loop.fn()
            outcome = self._cut(scope, hold, replace_at)
        except Exception:
            outcome = FAILED
            LOGGER.exception(
                "loop %s: run %d failed",
                brief(loop.name),
                self.runs,
                extra={"tickwork_loop": loop.name},
            )
        except BaseException:
            cut = trio.current_effective_deadline() == -math.inf
            if cut:
                self.cancelled += 1
                await self.coordinator.release(loop.name, answer.token, CANCELLED)
            raise
        finally:
            reset(token)
            self.coordinator.drop(hold)
            self._hold = None
            self._run_scope = None
            self.in_flight = False
            if (cut or life.stopping) and not self.removed:
                life.note_end(loop.name, cut_by_scope=cut)
            self.last_duration = duration = trio.current_time() - started
            if hooks.wants("on_run_finished"):
                hooks.emit(
                    "on_run_finished",
                    loop=loop.name,
                    outcome=CANCELLED if outcome is _FENCED else outcome,
                    duration=duration,
                    lateness=lateness,
                )
        await self._record(life, answer.token, outcome, duration)

    def _cut(self, scope: trio.CancelScope, hold: Hold, replace_at: float) -> str:
        """How a run that returned ended: succeeded, or cut by what."""
        if not scope.cancelled_caught:
            return SUCCEEDED
        if self.removed:
            return CANCELLED
        if hold.cut_by_fence:
            return _FENCED
        if replace_at == hold.limit and trio.current_time() >= replace_at:
            return REPLACED  # stop() or a pause lifts the limit to the timeout
        return TIMED_OUT

    async def _record(
        self, life: Life, token: int, outcome: str, duration: float
    ) -> None:
        loop = self.loop
        if outcome is SUCCEEDED:
            self.succeeded += 1
        elif outcome is FAILED:
            self.failed += 1
        elif outcome is CANCELLED:
            self.cancelled += 1
        elif outcome is REPLACED:
            self.replaced += 1
            LOGGER.info(
                "loop %s: run %d replaced by the next window after %.3f s",
                brief(loop.name),
                self.runs,
                duration,
                extra={"tickwork_loop": loop.name},
            )
        elif outcome is _FENCED:
            self.fenced += 1
            LOGGER.warning(
                "loop %s: run %d was fenced after %.3f s: its lease could not be "
                "renewed, so another replica may take the window over",
                brief(loop.name),
                self.runs,
                duration,
                extra={"tickwork_loop": loop.name},
            )
            life.hooks.emit(
                "on_run_fenced", name=loop.name, duration=duration, kind="loop"
            )
        else:
            self.timed_out += 1
            LOGGER.warning(
                "loop %s: run %d timed out after %.3f s",
                brief(loop.name),
                self.runs,
                duration,
                extra={"tickwork_loop": loop.name},
            )
            life.hooks.emit("on_run_timed_out", loop=loop.name, duration=duration)
        stored = CANCELLED if outcome is _FENCED else outcome
        try:
            recorded = await self.coordinator.finish(loop.name, token, stored)
        except Exception:
            LOGGER.warning(
                "loop %s: could not record the outcome of run %d; its lease "
                "expires on its own",
                brief(loop.name),
                self.runs,
                exc_info=True,
                extra={"tickwork_loop": loop.name},
            )
            return
        if not recorded and outcome is not _FENCED and outcome is not REPLACED:
            self.fenced += 1
            LOGGER.warning(
                "loop %s: run %d ended after its lease passed to another replica",
                brief(loop.name),
                self.runs,
                extra={"tickwork_loop": loop.name},
            )
            life.hooks.emit(
                "on_run_fenced", name=loop.name, duration=duration, kind="loop"
            )

    def renewal_failed(self) -> None:
        """The keeper could not renew this loop's lease once."""
        self.renewal_failures += 1


_FENCED: Final = "fenced"
