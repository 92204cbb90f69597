"""`current_run()`: what the run in progress is, from anywhere inside it.

A context variable holds a *source*, an object that makes the `RunContext`
when asked. An in-process loop sets it once, when its task starts (its
children inherit it, as Trio copies the context into every task it
spawns), and answers from the fields it keeps anyway, so a tick costs
nothing more. A coordinated run or a trigger dispatch sets the finished
`RunContext` itself.
"""

from __future__ import annotations

import contextvars
from datetime import datetime, timezone
from typing import Protocol, final

import attrs

from tickwork._errors import TickworkError


class NotInRunError(TickworkError, LookupError):
    """`current_run()` was called outside a run of a loop or a dispatch."""


@final
@attrs.frozen(kw_only=True)
class RunContext:
    """The run in progress, from `current_run()`.

    For an in-process loop, times are on Trio's clock (floats); for a
    coordinated loop or a trigger, ``window`` and ``scheduled`` are aware UTC
    datetimes.
    """

    name: str
    """The loop's or the trigger's name."""
    window: float | datetime
    """The window's nominal start (its grid point, before jitter)."""
    scheduled: float | datetime
    """The instant the run was due: the window's fire instant."""
    lateness: float
    """Seconds between ``scheduled`` and the start of the run (>= 0)."""
    attempt: int = 1
    """1, or 2, 3 ... when an at-least-once window is run again because its
    earlier holder vanished or was cut."""
    token: int | None = None
    """The fencing token of the claim, or None if the run is not coordinated."""
    catching_up: bool = False
    """Whether this run is for a window that was missed while nothing ran."""


class _Source(Protocol):
    def run_context(self) -> RunContext: ...


_CURRENT: contextvars.ContextVar[_Source | RunContext] = contextvars.ContextVar(
    "tickwork_current_run"
)


def current_run() -> RunContext:
    """The `RunContext` of the run (or trigger dispatch) this code is part of.

    Works in the run's own task and in tasks it starts.

    Raises:
        NotInRunError: called outside a run (a `TickworkError` and a
            `LookupError`).
    """
    try:
        value = _CURRENT.get()
    except LookupError:
        raise NotInRunError("current_run() was called outside a run") from None
    if isinstance(value, RunContext):
        return value
    return value.run_context()


def set_source(source: _Source | RunContext) -> contextvars.Token[_Source | RunContext]:
    """Make *source* the current run of this task (and the tasks it starts)."""
    return _CURRENT.set(source)


def reset(token: contextvars.Token[_Source | RunContext]) -> None:
    """Undo a `set_source`."""
    _CURRENT.reset(token)


def utc(us: int) -> datetime:
    """Microseconds since the Unix epoch as an aware UTC datetime."""
    return datetime.fromtimestamp(us / 1_000_000, tz=timezone.utc)
