"""Run the windows a sweep won: dispatch each under its lease, record how it ended.

Each won window is dispatched with the row as read, inside a `RunContext`,
under a cancel scope whose deadline is the sooner of ``dispatch_timeout``
and the lease's fence (`Coordinator.hold`, which renews long dispatches).
Then its outcome is recorded against its fencing token.

The dispatches run in a `Crew` (one task while they never block, one more
each time all of them do), each worker holding a slot of the sweeper's
limiter; the outcomes go to an `Outcomes` task that records them in
batches while the workers go on. Once a batch is answered the triggers
leave ``in_flight`` and the hooks hear ``on_trigger_fired`` (or
``on_run_fenced``: the outcome was refused, the lease having passed to
another replica).
"""

from __future__ import annotations

import functools
import logging
import math
from typing import TYPE_CHECKING, Final, final

import trio

from tickwork._context import RunContext, reset, set_source, utc
from tickwork._errors import LeaseLostError
from tickwork._lease import CANCELLED, FAILED, SUCCEEDED, TIMED_OUT
from tickwork._text import brief
from tickwork.triggers._crew import Crew
from tickwork.triggers._outcomes import Outcomes

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from tickwork._coordination import Coordinator
    from tickwork._hooks import Hooks
    from tickwork._lease import Claimed
    from tickwork.triggers._crew import Spawn
    from tickwork.triggers._decide import Due
    from tickwork.triggers._model import TriggerRow
    from tickwork.triggers._store import TriggerStore

LOGGER = logging.getLogger("tickwork.triggers")

FIRED: Final = "fired"
"""The result of a dispatch that returned."""

_Ended = tuple["TriggerRow", str | Exception, float]
"""A dispatch that ended, waiting for its outcome's answer: the row, its
result (`FIRED` or the exception) and when it started (Trio's clock)."""


@final
class Dispatcher:
    """Dispatches a sweeper's won windows and records their outcomes.

    Shares the sweeper's *limiter* (its ``max_concurrent`` slots) and its
    *in_flight* ids (claimed, outcome not yet answered).
    """

    def __init__(  # noqa: PLR0913 - the sweeper's parts, spelled out
        self,
        store: TriggerStore,
        dispatch: Callable[[TriggerRow], Awaitable[object]],
        *,
        dispatch_timeout: float | None,
        coordinator: Coordinator,
        hooks: Hooks,
        limiter: trio.CapacityLimiter,
        in_flight: set[str],
    ) -> None:
        """Parts of the sweeper; see `TriggerSweeper`."""
        self.store = store
        self.dispatch = dispatch
        self.dispatch_timeout = dispatch_timeout
        self.coordinator = coordinator
        self.hooks = hooks
        self.limiter = limiter
        self.in_flight = in_flight
        self.fenced = 0
        """Dispatches cut by their lease, or that ended after it passed on."""

    async def run(
        self,
        won: list[tuple[Due, Claimed]],
        outcome: dict[str, str | Exception],
        sent_at: float,
    ) -> None:
        """Dispatch the *won* windows, record their outcomes, and wait for both.

        *outcome* gets each trigger's result by name: `FIRED` or the
        exception. (`sweep` waits so; a loop's sweep uses `start`.)
        """
        try:
            async with trio.open_nursery() as nursery:
                self.coordinator.start(nursery)
                self.start(
                    won,
                    sent_at,
                    lambda fn, *, name: nursery.start_soon(fn, name=name),
                    outcome,
                )
        finally:
            self.in_flight.difference_update(item.row.id for item, _ in won)

    def start(
        self,
        won: list[tuple[Due, Claimed]],
        sent_at: float,
        spawn: Spawn,
        results: dict[str, str | Exception] | None,
    ) -> None:
        """Start the tasks that dispatch *won* and record the outcomes.

        A `Crew` runs the dispatches (one task while they never block, one
        more each time they all do), each worker holding a slot of the
        limiter; an `Outcomes` task records how they ended in batches, and
        ends once the crew has and every outcome is answered. *spawn*
        starts a task (the sweep's nursery, or the loop's background);
        *results*, if given, gets each trigger's result by name.
        """
        outcomes: Outcomes[_Ended] = Outcomes(
            functools.partial(self.store.finish_windows, "trigger"),
            self._recorded,
            retry_for=self.coordinator.lease / 3,
        )
        in_flight = self.in_flight

        async def run(won: tuple[Due, Claimed]) -> None:
            row, answer = won[0].row, won[1]
            try:
                stored, result, started = await self._dispatch(row, answer, sent_at)
            except BaseException:
                in_flight.discard(row.id)
                raise
            if results is not None:
                results[row.name] = result
            outcomes.add((row.id, answer.token, stored), (row, result, started))

        def ended(left: list[tuple[Due, Claimed]]) -> None:
            in_flight.difference_update(item.row.id for item, _ in left)
            outcomes.close()

        spawn(outcomes.run, name="tickwork trigger outcomes")
        Crew(
            won,
            run,
            spawn=spawn,
            limiter=self.limiter,
            name="tickwork trigger dispatches",
            on_end=ended,
        ).start()

    def _recorded(
        self, ended: list[_Ended], answers: Sequence[bool] | Exception
    ) -> None:
        """A batch of outcomes was answered: free the triggers, tell the hooks.

        A dispatch that ended well but whose outcome was refused ended after
        its lease passed to another replica: fenced. A batch that could not
        be recorded is logged; those leases expire on their own.
        """
        if isinstance(answers, Exception):
            names = [row.name for row, _, _ in ended]
            LOGGER.warning(
                "could not record the outcome of %d dispatch(es) (%s); their "
                "leases expire on their own",
                len(names),
                brief(", ".join(map(repr, names))),
                exc_info=answers,
                extra={"tickwork_triggers": names},
            )
        for index, (row, result, started) in enumerate(ended):
            self.in_flight.discard(row.id)
            if result is not FIRED:
                continue
            if not isinstance(answers, Exception) and not answers[index]:
                self.fenced += 1
                self.hooks.emit(
                    "on_run_fenced",
                    name=row.name,
                    duration=trio.current_time() - started,
                    kind="trigger",
                )
                LOGGER.warning(
                    "trigger %s: its dispatch ended after its lease passed to "
                    "another replica",
                    brief(row.name),
                    extra={"tickwork_trigger": row.name},
                )
            self.hooks.emit("on_trigger_fired", trigger=row)

    async def _dispatch(
        self, row: TriggerRow, answer: Claimed, sent_at: float
    ) -> tuple[str, str | Exception, float]:
        """Dispatch one won row under its lease and timeout; say how it ended.

        Returns the outcome to record, the result for the report (`FIRED`
        or the exception) and when the dispatch started. The caller holds a
        slot of the limiter, and takes the row's id out of ``in_flight``
        (where it is from its claim) once the outcome is answered or this
        is cancelled. A dispatch cut by shutdown releases its lease here.
        """
        assert answer.window is not None  # noqa: S101 - a won claim names it
        coordinator = self.coordinator
        started = trio.current_time()
        limit = (
            math.inf
            if self.dispatch_timeout is None
            else started + self.dispatch_timeout
        )
        scope = trio.CancelScope(deadline=min(limit, coordinator.fence(sent_at)))
        hold = coordinator.hold(row.id, answer.token, sent_at, scope, limit, row.name)
        window = utc(answer.window)
        context = set_source(
            RunContext(
                name=row.name,
                window=window,
                scheduled=window,
                lateness=max(0.0, (answer.now - answer.window) / 1e6),
                attempt=answer.attempt,
                token=answer.token,
                catching_up=answer.catching_up,
            )
        )
        stored = CANCELLED
        result: str | Exception
        try:
            with scope:
                await self.dispatch(row)
            if not scope.cancelled_caught:
                stored, result = SUCCEEDED, FIRED
            elif hold.cut_by_fence:
                self.fenced += 1
                self.hooks.emit(
                    "on_run_fenced",
                    name=row.name,
                    duration=trio.current_time() - started,
                    kind="trigger",
                )
                msg = (
                    f"dispatch of trigger {brief(row.name)} was fenced: its lease "
                    "could not be renewed"
                )
                raise LeaseLostError(msg)  # noqa: TRY301 - logged with the others
            else:
                stored = TIMED_OUT
                msg = (
                    f"dispatch of trigger {brief(row.name)} exceeded "
                    f"dispatch_timeout={self.dispatch_timeout} s"
                )
                raise TimeoutError(msg)  # noqa: TRY301 - logged with the others
        except Exception as exc:
            if stored is not TIMED_OUT and not isinstance(exc, LeaseLostError):
                stored = FAILED
            LOGGER.exception(
                "trigger %s: dispatch failed; it waits for its next window",
                brief(row.name),
                extra={"tickwork_trigger": row.name},
            )
            result = exc
        except BaseException:
            if trio.current_effective_deadline() == -math.inf:  # cut by shutdown
                await coordinator.release(row.id, answer.token, CANCELLED)
            raise
        finally:
            reset(context)
            coordinator.drop(hold)
        return stored, result, started
