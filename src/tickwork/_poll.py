"""poll: ask an upstream until it is ready, with backoff and a hard deadline."""

from __future__ import annotations

import logging
import math
from typing import (
    TYPE_CHECKING,
    Any,
    Final,
    Generic,
    TypeAlias,
    TypeVar,
    cast,
    final,
)

import attrs
import trio

from tickwork._backoff import Backoff
from tickwork._errors import InvalidConfigError, PollFailed, PollTimeout, WrongTypeError
from tickwork._text import brief, cut
from tickwork._validation import (
    check_async_callable,
    check_non_negative,
    check_optional_positive,
    check_positive,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from types import TracebackType

    from tickwork._rng import JitterSource

LOGGER = logging.getLogger("tickwork.poll")

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

DEFAULT_MAX_WAIT: Final = 600.0
"""`poll`'s deadline, in seconds, when neither the call nor
`set_default_max_wait` gives one."""


def _retry_after(
    _inst: object, _attribute: attrs.Attribute[Any], value: object
) -> None:
    """Require None or a finite number >= 0."""
    if value is not None:
        check_non_negative("retry_after", value)


@final
@attrs.frozen(kw_only=True, repr=False)
class Pending:
    """Returned by a polled function: not ready yet; ask again after a wait.

    `PENDING` is ``Pending()``: the wait is the backoff's next one.
    ``Pending(retry_after=seconds)`` passes on the upstream's own pacing,
    such as an HTTP ``Retry-After`` header (an HTTP date is the caller's to
    turn into seconds); `poll` then waits ``max(retry_after, base)``, where
    *base* is the backoff's current base wait (without jitter), and keeps
    the backoff where it was. `poll` gives the full rules, the deadline's
    included.

    Every ``Pending`` with no *retry_after* equals `PENDING`; ``result is
    PENDING`` is true for the constant itself, so test a result with
    ``isinstance(result, Pending)`` when *fn* may return a *retry_after*.

    Args:
        retry_after: None, or the seconds the upstream asks to wait before
            the next attempt; finite and >= 0 (an int is accepted).

    Raises:
        InvalidConfigError: *retry_after* is negative, NaN or infinite (a
            `ValueError`).
        WrongTypeError: *retry_after* is not a real number or None (a bool
            or a str included; a `TypeError`).

    Example:
        >>> Pending(retry_after=30)
        tickwork.Pending(retry_after=30)
        >>> Pending() == PENDING
        True
    """

    retry_after: float | None = attrs.field(default=None, validator=_retry_after)
    """None (wait the backoff's next delay), or the seconds the upstream asks
    to wait before the next attempt."""

    def __repr__(self) -> str:
        """Show the public name: ``tickwork.PENDING`` without *retry_after*."""
        if self.retry_after is None:
            return "tickwork.PENDING"
        return f"tickwork.Pending(retry_after={brief(self.retry_after)})"


PENDING: Final = Pending()
"""Returned by a polled function: not ready yet, ask again after the
backoff's wait (``Pending()``; see `Pending` for an upstream's
``Retry-After``)."""


@final
@attrs.frozen
class Done(Generic[T_co]):
    """Returned by a polled function: ready; `poll` returns *value*.

    ``Done`` is covariant in its value's type: a ``Done[bool]`` is also a
    ``Done[int]``, so ``x: object = await poll(fn)`` type-checks for any
    *fn*.
    """

    value: T_co


def _exception(_inst: object, _attribute: attrs.Attribute[Any], value: object) -> None:
    """Require an exception instance (poll chains it as ``__cause__``)."""
    if not isinstance(value, BaseException):
        msg = f"'error' must be an exception instance (got {brief(value)})"
        raise WrongTypeError(msg)


@final
@attrs.frozen
class Failed:
    """Returned by a polled function: definitively failed; `poll` raises.

    `poll` raises `PollFailed` with *error* as ``__cause__``, and makes no
    further attempt.

    Raises:
        WrongTypeError: *error* is not an exception instance (an exception
            class such as ``ValueError`` is refused too: pass
            ``ValueError("why")``).
    """

    error: BaseException = attrs.field(validator=_exception)


PollResult: TypeAlias = Done[T] | Failed | Pending
"""What a polled function returns: ``Done(value)``, ``Failed(error)``,
`PENDING` or ``Pending(retry_after=seconds)``."""


@final
@attrs.define
class _Defaults:
    max_wait: float | None = None


_DEFAULTS = _Defaults()


@final
class MaxWaitOverride:
    """Returned by `set_default_max_wait`; as a context manager it restores.

    The new default is in force as soon as `set_default_max_wait` returns;
    leaving the ``with`` block puts back the value that was in force before.
    """

    def __init__(self, previous: float | None) -> None:
        """Remember the value to restore."""
        self._previous = previous

    def __enter__(self) -> MaxWaitOverride:
        """Nothing to do: the override is already in force."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Restore the default that was in force before the override."""
        _DEFAULTS.max_wait = self._previous


def set_default_max_wait(seconds: float | None) -> MaxWaitOverride:
    """Set the process-wide default deadline of `poll`, in seconds.

    It applies to every `poll` call without its own ``max_wait``. None
    restores `DEFAULT_MAX_WAIT`. The return value is a context manager that
    restores the previous value on exit, handy in tests::

        with set_default_max_wait(5):
            ...  # every poll() here gives up after 5 s

    Raises:
        InvalidConfigError: *seconds* is not finite or not > 0; there is no
            "off" value.
        WrongTypeError: *seconds* is not a real number or None.
    """
    value = None if seconds is None else check_positive("max_wait", seconds)
    previous = _DEFAULTS.max_wait
    _DEFAULTS.max_wait = value
    return MaxWaitOverride(previous)


def _resolve_max_wait(max_wait: float | None) -> float:
    if max_wait is not None:
        return check_positive("max_wait", max_wait)
    if _DEFAULTS.max_wait is not None:
        return _DEFAULTS.max_wait
    return DEFAULT_MAX_WAIT


def _check_retry_on(retry_on: object) -> tuple[type[Exception], ...]:
    """Require an `Exception` subclass or a tuple of them (the empty one too).

    A type that is a `BaseException` but not an `Exception` is refused:
    retrying `KeyboardInterrupt`, `SystemExit`, `GeneratorExit`,
    ``trio.Cancelled`` or a `BaseExceptionGroup` would swallow an interrupt,
    an exit or a cancellation, and poll on.
    """
    kinds = retry_on if isinstance(retry_on, tuple) else (retry_on,)
    if not all(
        isinstance(kind, type) and issubclass(kind, BaseException) for kind in kinds
    ):
        msg = (
            "'retry_on' must be an exception type or a tuple of them "
            f"(got {brief(retry_on)})"
        )
        raise WrongTypeError(msg)
    checked: list[type[Exception]] = []
    for kind in kinds:
        if not issubclass(kind, Exception):
            msg = (
                f"'retry_on' must be Exception subclasses, not {cut(kind.__name__)}, "
                f"which poll never retries (got {brief(retry_on)})"
            )
            raise InvalidConfigError(msg)
        checked.append(kind)
    return tuple(checked)


def _check_backoff(backoff: object) -> Backoff:
    """Require a `Backoff`."""
    if not isinstance(backoff, Backoff):
        msg = f"'backoff' must be a tickwork.Backoff (got {brief(backoff)})"
        raise WrongTypeError(msg)
    return backoff


_DEFAULT_BACKOFF: Final = Backoff()


@final
class _Waits:
    """When the next attempt is due: after the backoff's wait or a retry_after."""

    __slots__ = ("_at_deadline", "_base", "_bases", "_deadline", "_delays")

    def __init__(
        self,
        backoff: Backoff,
        rng: JitterSource | None,
        deadline: float,
        *,
        at_deadline: bool,
    ) -> None:
        """Start at the backoff's first step; check *rng* now.

        *at_deadline* says whether an attempt may start at *deadline* itself
        (poll's final attempt, with ``attempt_timeout``).
        """
        self._delays = backoff.delays(rng)
        # delays() draws each wait around the matching base of bases(), so
        # the two advance in step: `_base` is the current step's base.
        self._bases = backoff.bases()
        self._base = next(self._bases)
        self._deadline = deadline
        self._at_deadline = at_deadline

    def wake(self, now: float, retry_after: float | None, attempt: int) -> float | None:
        """When attempt *attempt* + 1 is due; attempt *attempt* ended at *now*.

        Without *retry_after*: after the backoff's next wait, which advances
        it. With one: after ``max(retry_after, base)``, leaving the backoff
        at its step. None when the upstream's earliest instant comes later
        than any attempt poll may start: no attempt could honour it.
        """
        if retry_after is None:
            self._base = next(self._bases)
            return now + next(self._delays)
        seconds = float(retry_after)
        LOGGER.debug(
            "poll: attempt %d asked to retry after %s s", attempt, brief(retry_after)
        )
        earliest = now + seconds
        if earliest > self._deadline or (
            earliest == self._deadline and not self._at_deadline
        ):
            return None
        return now + max(seconds, self._base)


@final
@attrs.frozen
class _Attempt:
    """What one attempt gave: a result, or a transient error, or a cut."""

    result: object = PENDING
    error: BaseException | None = None
    cut: bool = False


async def _attempt(
    fn: Callable[[], Awaitable[object]],
    cut_at: float,
    transient: tuple[type[Exception], ...],
) -> _Attempt:
    with trio.CancelScope(deadline=cut_at) as scope:
        try:
            return _Attempt(result=await fn())
        # Only Exception subclasses: trio.Cancelled, KeyboardInterrupt and
        # the like always propagate.
        except transient as exc:
            return _Attempt(error=exc)
    # Only reached when the scope swallowed its own cancellation.
    return _Attempt(cut=scope.cancelled_caught)


def _pending(result: object) -> Pending | None:
    """The Pending *result* is; None for Done; raise for Failed or a wrong type."""
    if isinstance(result, Done):
        return None
    if isinstance(result, Failed):
        msg = f"poll: the operation failed: {brief(result.error)}"
        raise PollFailed(msg, result.error) from result.error
    if not isinstance(result, Pending):
        msg = (
            "poll: fn must return tickwork.PENDING, tickwork.Pending(retry_after="
            "seconds), tickwork.Done(value) or tickwork.Failed(error) "
            f"(got {brief(result)})"
        )
        raise WrongTypeError(msg)
    return result


async def poll(  # noqa: PLR0913 - the public keyword-only options
    fn: Callable[[], Awaitable[PollResult[T]]],
    *,
    max_wait: float | None = None,
    backoff: Backoff = _DEFAULT_BACKOFF,
    retry_on: type[Exception] | tuple[type[Exception], ...] = (),
    attempt_timeout: float | None = None,
    rng: JitterSource | None = None,
) -> T:
    """Call *fn* until it is done, waiting a backoff delay between attempts.

    The first attempt runs at once. *fn* returns `PENDING` (ask again),
    ``Pending(retry_after=seconds)`` (ask again, not before *seconds*),
    ``Done(value)`` (`poll` returns *value*) or ``Failed(error)`` (`poll`
    raises `PollFailed` from *error*, with no further attempt).

    - An exception that is an instance of *retry_on* is transient: it is
      remembered as the last error (a later clean `PENDING` does not forget
      it) and polling goes on. Any other exception propagates at once: a bug
      is not retried. *retry_on* holds `Exception` subclasses only, so
      ``trio.Cancelled``, `KeyboardInterrupt` and `SystemExit` always
      propagate.
    - After `PENDING` or a transient error, `poll` waits the next delay of
      *backoff*, counted from the end of the attempt.
    - After ``Pending(retry_after=r)`` (an upstream's ``Retry-After``), it
      waits ``max(r, base)`` instead, also from the end of the attempt:
      *base* is the backoff's current base wait, the one its next delay is
      drawn around (without jitter). So the upstream may slow `poll` down,
      beyond the backoff's ``cap`` too (the cap bounds the backoff, not the
      upstream's request), but never make it poll faster than the backoff's
      base. Such a wait does not advance the backoff: the next `PENDING` or
      transient error waits what it would have waited without it, and the
      waits are not jittered (the upstream chose them).
    - Hard deadline: *max_wait* seconds after the call, on Trio's clock.
      Every attempt runs inside a cancel scope that ends at the deadline, so a
      hung upstream cannot hang `poll`; a wait that would cross the deadline
      is shortened to end at it; no attempt starts at or after it. Without
      *attempt_timeout*, `poll` raises `PollTimeout` at the deadline.
    - *attempt_timeout* bounds each attempt on its own: an attempt cut by it
      is a transient failure (a `TimeoutError` becomes the last error). Then,
      when the deadline arrives during a wait, one final attempt runs at the
      deadline, bounded by *attempt_timeout* alone, so `poll` returns by
      ``max_wait + attempt_timeout`` at the latest. An attempt cut by the
      deadline itself ends the poll.
    - When *r* itself reaches past what the deadline allows (beyond the
      deadline; or at it without *attempt_timeout*, since no attempt then
      starts at the deadline), no attempt could honour it: `poll` raises
      `PollTimeout` at once instead of sleeping to the deadline in vain.
      When only the floor at *base* crosses the deadline, the wait is
      shortened to end there, as any wait is.
    - Cancellation from outside always wins.

    Every argument is checked before the first attempt.

    Args:
        fn: an async callable with no arguments.
        max_wait: seconds until the hard deadline; None uses the value set
            with `set_default_max_wait`, else `DEFAULT_MAX_WAIT` (600).
        backoff: the waits between attempts.
        retry_on: the exception type(s) that mean "try again": an
            `Exception` subclass or a tuple of them; ``()`` (the default)
            retries nothing.
        attempt_timeout: None, or seconds that bound each attempt.
        rng: the source of the backoff's jitter: None (a fresh, OS-seeded
            `random.Random`), a `random.Random`, or any object with a
            ``uniform(a, b)`` method.

    Returns:
        The value of the first ``Done(value)``.

    Raises:
        PollTimeout: the deadline passed, or an upstream's *retry_after*
            reaches past it; it carries ``last_error`` (also its
            ``__cause__``) and ``attempts``.
        PollFailed: *fn* returned ``Failed(error)``; ``__cause__`` is *error*.
        WrongTypeError: *fn* returned something else (a `TypeError`), or an
            argument has the wrong type: *fn* is not callable or is
            recognisably synchronous (a plain ``def``, a builtin, a class),
            *rng* has no callable ``uniform``, *retry_on* is not an
            exception type or a tuple of them, a number is a bool or a str.
        InvalidConfigError: *max_wait* or *attempt_timeout* is not finite
            and > 0 (NaN, an infinity or an int past the float range such
            as ``2**2000`` included), or *retry_on* names a `BaseException`
            that is not an `Exception`, such as `KeyboardInterrupt`.

    Example::

        async def order_ready() -> PollResult[str]:
            status = await client.get_status(order_id)
            if status == "ready":
                return Done(status)
            if status == "rejected":
                return Failed(RuntimeError("order rejected"))
            return PENDING

        status = await poll(order_ready, max_wait=60, retry_on=ConnectionError)

        On Trio's MockClock, the attempts' instants are exact: at once, then
        after waits of 1, 2 and 4 s (the backoff without jitter):

        >>> import trio, trio.testing
        >>> from tickwork import PENDING, Backoff, Done, poll
        >>> asked = []
        >>> async def shipped() -> PollResult[str]:
        ...     asked.append(trio.current_time())
        ...     return Done("shipped") if trio.current_time() >= 7 else PENDING
        >>> async def main() -> str:
        ...     backoff = Backoff(initial=1, factor=2, cap=4, jitter=0)
        ...     return await poll(shipped, max_wait=60, backoff=backoff)
        >>> trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
        'shipped'
        >>> asked
        [0.0, 1.0, 3.0, 7.0]
    """
    check_async_callable("fn", fn, "taking no arguments")
    limit = _resolve_max_wait(max_wait)
    per_attempt = check_optional_positive("attempt_timeout", attempt_timeout)
    transient = _check_retry_on(retry_on)
    deadline = trio.current_time() + limit
    waits = _Waits(
        _check_backoff(backoff), rng, deadline, at_deadline=per_attempt is not None
    )
    last_error: BaseException | None = None
    attempts = 0
    final_attempt = False

    def timeout() -> PollTimeout:
        # Only an upstream's retry_after gives up before the deadline.
        early = trio.current_time() < deadline
        when = "before" if early else "at"
        why = ": the upstream's retry_after reaches past it" if early else ""
        return PollTimeout(
            f"poll gave up {when} its deadline (max_wait={limit} s) after "
            f"{attempts} attempt(s){why}; last error: {brief(last_error)}",
            last_error=last_error,
            attempts=attempts,
            max_wait=limit,
        )

    while True:
        attempts += 1
        started = trio.current_time()
        # The final attempt is bounded by attempt_timeout alone; the others
        # by whichever of attempt_timeout and the deadline comes first.
        own_cut = math.inf if per_attempt is None else started + per_attempt
        by_attempt_timeout = final_attempt or own_cut < deadline
        cut_at = own_cut if by_attempt_timeout else deadline
        attempt = await _attempt(fn, cut_at, transient)
        # An attempt that raised or was cut leaves its result at PENDING.
        pending = _pending(attempt.result)
        if pending is None:
            return cast("Done[T]", attempt.result).value
        if attempt.error is not None:
            last_error = attempt.error
            LOGGER.debug(
                "poll: attempt %d raised %s; will retry", attempts, brief(last_error)
            )
        elif attempt.cut:
            if not by_attempt_timeout:
                raise timeout() from last_error
            last_error = TimeoutError(
                f"poll: attempt {attempts} exceeded attempt_timeout={per_attempt} s"
            )
        # No attempt follows the final one, nor one an upstream's retry_after
        # pushes past the deadline.
        now = trio.current_time()
        wake = None if final_attempt else waits.wake(now, pending.retry_after, attempts)
        if wake is None:
            raise timeout() from last_error
        if wake < deadline:
            await trio.sleep_until(wake)
            continue
        # The wait would cross the deadline: shorten it to end there.
        await trio.sleep_until(deadline)
        if per_attempt is None:
            raise timeout() from last_error
        final_attempt = True
