"""Work that a loop's run hands off to outlive the run, in the scheduler's nursery.

A run of a loop ends before its next tick, but some of what it starts may
take longer: the trigger sweeper claims due windows in one run and dispatches
them in the background, so that a slow dispatch never delays the next sweep.
Such tasks must still be children of the scheduler (structured concurrency:
shutdown waits for them up to its grace deadline, then cancels them, and the
`ShutdownReport` names their loop), and `Scheduler.remove` of their loop
cancels them. A loop whose ``fn`` is a `HandsOff` is given its loop's
`Background` at every run; other loops pay nothing for this.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, final

import trio

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from tickwork._life import Life


@final
class HandsOff:
    """A loop body that may hand work off to its loop's `Background`.

    Called by a `Scheduler`'s loop, it gets the loop's background; called
    any other way (``await fn()``), it gets None and must do the work itself.
    """

    __slots__ = ("_fn",)

    def __init__(self, fn: Callable[[Background | None], Awaitable[object]]) -> None:
        """Wrap *fn*, which takes the background or None."""
        self._fn = fn

    async def __call__(self) -> object:
        """One run without a background."""
        return await self._fn(None)

    async def run(self, background: Background) -> object:
        """One run of a scheduler's loop, with its background."""
        return await self._fn(background)


@final
class Background:
    """The background tasks of one loop."""

    __slots__ = ("_cancelled", "_life", "_name", "_scopes")

    def __init__(self, name: str, life: Life) -> None:
        """Tasks of loop *name*, in the nursery of the scheduler that *life* is."""
        self._name = name
        self._life = life
        self._scopes: set[trio.CancelScope] = set()
        self._cancelled = False

    @property
    def nursery(self) -> trio.Nursery:
        """The scheduler's nursery, open while a run of the loop is in flight."""
        nursery = self._life.nursery
        assert nursery is not None  # noqa: S101 - a run of the loop is in flight
        return nursery

    def start_soon(self, fn: Callable[[], Awaitable[object]], name: str) -> None:
        """Run ``await fn()`` as a child of the scheduler's nursery.

        Called from a run of the loop, which is itself a child of that
        nursery: the nursery is open as long as such a run is in flight.
        """
        nursery = self._life.nursery
        assert nursery is not None  # noqa: S101 - a run of the loop is in flight
        # The scope exists from now, so a cancel() before the task first runs
        # reaches it; after cancel(), new tasks start cancelled (a run that
        # ignored the cancellation may still hand work off).
        scope = trio.CancelScope()
        if self._cancelled:
            scope.cancel()
        self._scopes.add(scope)
        nursery.start_soon(self._task, fn, scope, name=name)

    async def _task(
        self, fn: Callable[[], Awaitable[object]], scope: trio.CancelScope
    ) -> None:
        cut = False
        try:
            with scope:
                await fn()
        except BaseException:
            cut = trio.current_effective_deadline() == -math.inf
            raise
        finally:
            self._scopes.discard(scope)
            if not self._cancelled and (cut or self._life.stopping):
                self._life.note_end(self._name, cut_by_scope=cut)

    def cancel(self) -> None:
        """Cancel every background task of this loop (its loop was removed)."""
        self._cancelled = True
        for scope in self._scopes:
            scope.cancel()
