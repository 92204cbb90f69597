"""Run a list of items in as few tasks as they let: one more only when all block.

A sweep may win thousands of windows. One task per window costs a task, a
cancel scope and a limiter slot each, even when dispatch only hands a row
to a queue and never blocks; a fixed handful of workers would let one slow
dispatch hold up every window queued behind it. A `Crew` starts one worker.
Before each item it runs, a worker makes sure one spare worker is queued to
start while items remain. The spare runs only when the running workers
yield: if each of them is blocked inside an item, it takes the next item
(and queues a spare of its own); if one of them is merely pausing (every
`PAUSE_EVERY` items a worker yields, so that a long run of items that never
block does not hold the event loop), it leaves. So items that never block
run one after another in one task, and an item that blocks delays the next
by one scheduling round at most: the workers grow only as items block, up
to the slots of the limiter (each worker holds one while it works).

Edge cases: a worker checks for cancellation before each item, even when
the items never checkpoint. When the last worker ends (the items are done,
or the workers were cancelled), *on_end* gets the items no worker took, in
order.
"""

from __future__ import annotations

import collections
from typing import TYPE_CHECKING, Final, Generic, Protocol, TypeVar, final

import trio

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable

T = TypeVar("T")


class Spawn(Protocol):
    """Starts a task, as `trio.Nursery.start_soon` and `Background.start_soon` do."""

    def __call__(self, fn: Callable[[], Awaitable[object]], /, *, name: str) -> None:
        """Run ``await fn()`` in a new task called *name*."""


PAUSE_EVERY: Final = 64
"""Items a worker runs between two yields when none of them blocks: about
a millisecond of dispatching, short beside a loop's tick."""


@final
class Crew(Generic[T]):
    """Workers that run *items* with *run*, each holding a slot of *limiter*.

    *spawn* starts a task (``spawn(fn, name=...)``); `start` starts the
    first worker.
    """

    __slots__ = (
        "_alive",
        "_items",
        "_limiter",
        "_name",
        "_on_end",
        "_pausing",
        "_run",
        "_spare",
        "_spawn",
    )

    def __init__(  # noqa: PLR0913 - one crew, spelled out
        self,
        items: Iterable[T],
        run: Callable[[T], Awaitable[object]],
        *,
        spawn: Spawn,
        limiter: trio.CapacityLimiter,
        name: str,
        on_end: Callable[[list[T]], None],
    ) -> None:
        """Items to run; tasks are named *name*."""
        self._items = collections.deque(items)
        self._run = run
        self._spawn = spawn
        self._limiter = limiter
        self._name = name
        self._on_end = on_end
        self._alive = 0  # workers started and not ended, the spare included
        self._pausing = 0  # workers yielding between items
        self._spare = False  # a spare is queued and has not begun work

    def start(self) -> None:
        """Start the first worker (nothing to run: *on_end* at once)."""
        if not self._items:
            self._on_end([])
            return
        self._add_worker()

    def _add_worker(self) -> None:
        self._spawn(self._work, name=self._name)
        self._alive += 1

    async def _work(self) -> None:
        items = self._items
        try:
            async with self._limiter:
                self._spare = False
                if self._pausing:  # not needed: a worker merely paused
                    return
                done = 0
                while items:
                    await trio.lowlevel.checkpoint_if_cancelled()
                    if len(items) > 1 and not self._spare:
                        self._spare = True
                        self._add_worker()
                    await self._run(items.popleft())
                    done += 1
                    if done % PAUSE_EVERY == 0 and items:
                        self._pausing += 1
                        try:
                            await trio.lowlevel.checkpoint()
                        finally:
                            self._pausing -= 1
        finally:
            self._alive -= 1
            if not self._alive:
                left = list(items)
                items.clear()
                self._on_end(left)
