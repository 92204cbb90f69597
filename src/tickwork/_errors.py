"""The tickwork exception hierarchy.

Every exception tickwork raises on purpose derives from `TickworkError`, and
each leaf also derives from the builtin a caller would naturally catch, so
``except ValueError`` and ``except TimeoutError`` keep working.
"""

from __future__ import annotations

from typing import final


class TickworkError(Exception):
    """Root of every exception that tickwork raises on purpose."""


@final
class InvalidConfigError(TickworkError, ValueError):
    """A configuration value is out of its allowed range.

    The message names the field, the rule and the value, e.g.
    ``'interval' must be finite and > 0 (got -1)``.
    """


@final
class WrongTypeError(TickworkError, TypeError):
    """A value has the wrong type: a configuration field or a poll result.

    The message names the field (or the function), the expected type and
    the value.
    """


@final
class PollFailed(TickworkError, RuntimeError):  # noqa: N818 - a public name kept since 0.1
    """The polled operation reported a definitive failure with `Failed`.

    The error it carried is both ``__cause__`` and `error`.
    """

    def __init__(self, message: str, error: BaseException) -> None:
        """Store the failure the polled operation reported."""
        super().__init__(message)
        self.error = error


@final
class PollTimeout(TickworkError, TimeoutError):  # noqa: N818 - a public name kept since 0.1
    """`poll` reached its hard deadline before the operation was done.

    Attributes:
        last_error: the last transient error seen (an instance of ``retry_on``
            or an attempt's `TimeoutError`), or None when every attempt
            returned `PENDING`. It is also ``__cause__``.
        attempts: how many attempts were started.
        max_wait: the deadline, in seconds after the call.
    """

    def __init__(
        self,
        message: str,
        *,
        last_error: BaseException | None,
        attempts: int,
        max_wait: float,
    ) -> None:
        """Store what the poll saw before giving up."""
        super().__init__(message)
        self.last_error = last_error
        self.attempts = attempts
        self.max_wait = max_wait


@final
class SchedulerStateError(TickworkError, RuntimeError):
    """A `Scheduler` method was called in a state that does not allow it.

    For example `Scheduler.run` called twice, or `Scheduler.add` while the
    scheduler is stopping.
    """


@final
class UnknownLoopError(TickworkError, KeyError):
    """A `Scheduler` was asked about a loop name it does not hold."""

    def __str__(self) -> str:
        """The message itself, not KeyError's quoted repr of it."""
        return str(self.args[0]) if self.args else ""


@final
class UnknownTriggerError(TickworkError, KeyError):
    """A trigger store was asked about a trigger name it does not hold."""

    def __str__(self) -> str:
        """The message itself, not KeyError's quoted repr of it."""
        return str(self.args[0]) if self.args else ""


@final
class TriggerStoreError(TickworkError, RuntimeError):
    """A trigger store cannot serve the request in its current state.

    For example the store was closed, or its database carries a schema version
    newer than this tickwork knows.
    """


@final
class LeaseLostError(TickworkError, RuntimeError):
    """A run or dispatch was cut because its lease could not be renewed in time.

    After its lease expires another replica may claim the window, so the
    run is cancelled first (fenced): two holders never run at once.
    """
