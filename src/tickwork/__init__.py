"""tickwork: reliable periodic work for Trio services.

Drift-free jittered loops, a deadline-bound exponential-backoff poller and
persisted interval triggers. Everything public is importable from here.
"""

from __future__ import annotations

from tickwork._backoff import Backoff
from tickwork._errors import (
    InvalidConfigError,
    PollFailed,
    PollTimeout,
    TickworkError,
    WrongTypeError,
)
from tickwork._poll import (
    DEFAULT_MAX_WAIT,
    PENDING,
    Done,
    Failed,
    PollResult,
    poll,
    set_default_max_wait,
)
from tickwork._ticker import TickSchedule

__all__ = [
    "DEFAULT_MAX_WAIT",
    "PENDING",
    "Backoff",
    "Done",
    "Failed",
    "InvalidConfigError",
    "PollFailed",
    "PollResult",
    "PollTimeout",
    "TickSchedule",
    "TickworkError",
    "WrongTypeError",
    "poll",
    "set_default_max_wait",
]
