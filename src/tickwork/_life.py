"""The private link between a `Scheduler` and its loops: one shared state.

Loops read whether shutdown began and its grace deadline, emit events to the
scheduler's hooks, and note the loops that were still in flight at the grace
deadline. Nothing here is public: users see `Scheduler.stop`,
`Scheduler.shutdown_report` and the hooks.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, final

import trio

if TYPE_CHECKING:
    from tickwork._hooks import Hooks


@final
class Life:
    """Shutdown state shared by a scheduler and its loops."""

    __slots__ = ("cut", "deadline", "hooks", "nursery", "stopping")

    def __init__(self, hooks: Hooks) -> None:
        """A scheduler that has not started."""
        self.hooks = hooks
        self.stopping = False
        self.deadline = math.inf
        """The grace deadline, on Trio's clock, once `stopping`."""
        self.nursery: trio.Nursery | None = None
        """The loops' nursery while the scheduler runs."""
        self.cut: set[str] = set()
        """Loops with a run (or background task) in flight at the deadline."""

    def note_end(self, name: str, *, cut_by_scope: bool) -> None:
        """A run or background task of loop *name* (not removed) ended.

        It was in flight at the grace deadline, and the report names its
        loop, if an enclosing scope cut it (shutdown's deadline, a
        cancellation from outside, a sibling's error) or if it ended after the
        deadline: it ignored the cancellation (a worker thread). A run that
        ends by itself at the very instant of the deadline was not cut.
        """
        if cut_by_scope or (self.stopping and trio.current_time() > self.deadline):
            self.cut.add(name)
