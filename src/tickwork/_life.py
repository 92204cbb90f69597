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

    def past_grace(self) -> bool:
        """True if shutdown began and its grace deadline has come.

        A run that ends now was in flight at the deadline: Trio cancelled it,
        or it ignored the cancellation (a worker thread) and ended later.
        """
        return self.stopping and trio.current_time() >= self.deadline
