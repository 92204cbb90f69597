"""tickwork: reliable periodic work for Trio services.

Drift-free jittered loops on intervals or calendars in a time zone, a
deadline-bound exponential-backoff poller and persisted triggers. Everything
public is importable from here.
"""

from __future__ import annotations

from tickwork._backoff import Backoff
from tickwork._context import NotInRunError, RunContext, current_run
from tickwork._cron import CronSchedule
from tickwork._errors import (
    InvalidConfigError,
    LeaseLostError,
    PollFailed,
    PollTimeout,
    SchedulerStateError,
    TickworkError,
    UnknownLoopError,
    WrongTypeError,
)
from tickwork._grid import WindowGrid
from tickwork._loop import Loop, LoopStats
from tickwork._poll import (
    DEFAULT_MAX_WAIT,
    PENDING,
    Done,
    Failed,
    Pending,
    PollResult,
    poll,
    set_default_max_wait,
)
from tickwork._scheduler import Scheduler, ShutdownReport, open_scheduler
from tickwork._ticker import TickSchedule
from tickwork._ticks import Tick, ticks

__all__ = [
    "DEFAULT_MAX_WAIT",
    "PENDING",
    "Backoff",
    "CronSchedule",
    "Done",
    "Failed",
    "InvalidConfigError",
    "LeaseLostError",
    "Loop",
    "LoopStats",
    "NotInRunError",
    "Pending",
    "PollFailed",
    "PollResult",
    "PollTimeout",
    "RunContext",
    "Scheduler",
    "SchedulerStateError",
    "ShutdownReport",
    "Tick",
    "TickSchedule",
    "TickworkError",
    "UnknownLoopError",
    "WindowGrid",
    "WrongTypeError",
    "current_run",
    "open_scheduler",
    "poll",
    "set_default_max_wait",
    "ticks",
]
