"""What a trigger store is: the protocol, and what every store shares.

The sweeper and the command line use only `TriggerStore`. The helpers here
keep the three stores alike: the same checks of a new trigger and the same
errors, worded once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, Literal, Protocol

from tickwork._errors import (
    InvalidConfigError,
    TriggerStoreError,
    UnknownTriggerError,
    WrongTypeError,
)
from tickwork._lease import OUTCOMES, micros
from tickwork._text import brief
from tickwork._validation import (
    check_bool,
    check_name,
    check_positive,
    is_recognisably_async,
)
from tickwork.triggers._calendar import check_schedule

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from types import TracebackType

    from typing_extensions import Self

    from tickwork._lease import Claim, Claimed
    from tickwork.triggers._model import LoopRow, TriggerRow

Kind = Literal["trigger", "loop"]
KINDS: Final = ("trigger", "loop")


class TriggerStore(Protocol):
    """Where triggers live; the sweeper and the command line use only this.

    Every method is async and safe to call from Trio. Stores keep
    ``last_fired_at`` as the exact text they were given, and `claim` and
    `claim_many` compare that text, so the compare-and-set never depends on
    formatting. Listings return rows as stored, broken ones included (see
    `TriggerRow`).
    """

    async def enabled(self) -> Sequence[TriggerRow]:
        """The rows with ``enabled=True``, ordered by name."""
        ...

    async def all(self) -> Sequence[TriggerRow]:
        """Every row, ordered by name."""
        ...

    async def claim(self, trigger_id: str, seen: str | None, fired_at: str) -> bool:
        """Compare-and-set ``last_fired_at`` of the row *trigger_id*.

        Stores *fired_at* only if ``last_fired_at`` still equals *seen* (what
        this sweep read), in one atomic step.

        Returns:
            True if this caller won the window; False if another did first or
            the row is gone.
        """
        ...

    async def claim_many(
        self, claims: Sequence[tuple[str, str | None]], fired_at: str
    ) -> frozenset[str]:
        """`claim` for many ``(trigger_id, seen)`` pairs, all to *fired_at*.

        One transaction (or statement) for the lot, so a sweep with many due
        rows costs a few round trips, not one per row.

        Returns:
            The ids whose claim this caller won; unknown ids simply lose.
        """
        ...

    async def claim_windows(
        self, kind: Kind, claims: Sequence[Claim], *, lease: float, holder: str
    ) -> Sequence[Claimed]:
        """Apply `tickwork._lease.claim` to each of *claims*, in one transaction.

        *kind* is ``"trigger"`` (keys are trigger ids; a missing id is
        ``gone``) or ``"loop"`` (keys are coordinated loop names; a missing
        one is created). The store's own clock is "now"; *lease* is in
        seconds; *holder* names the caller. Returns one answer per claim,
        in order.
        """
        ...

    async def renew_leases(
        self, kind: Kind, leases: Sequence[tuple[str, int]], *, lease: float
    ) -> Sequence[bool]:
        """Extend each ``(key, token)`` lease to the store's now + *lease*.

        Returns, per pair, whether the token still holds its window.
        """
        ...

    async def finish_windows(
        self, kind: Kind, outcomes: Sequence[tuple[str, int, str]]
    ) -> Sequence[bool]:
        """Record each ``(key, token, outcome)`` and end its lease.

        Returns, per triple, whether it was recorded (False: fenced, the
        token no longer holds the window).
        """
        ...

    async def loops(self) -> Sequence[LoopRow]:
        """Every coordinated loop's window state, ordered by name."""
        ...

    async def add(
        self, *, name: str, interval: str, enabled: bool = True
    ) -> TriggerRow:
        """Create a trigger that never fired, anchored at the store's now.

        tickwork's stores also create calendar triggers: ``add(name=...,
        cron="0 3 * * *", timezone="Europe/Berlin")`` (see
        `MemoryTriggerStore.add`). A store of one's own need not, so the
        protocol asks only for *interval*.

        Raises:
            InvalidConfigError: a bad interval (see `parse_interval`), a name
                that is empty, has surrounding white space or control
                characters, or a name the store already holds (a `ValueError`).
            WrongTypeError: a value of the wrong type (a `TypeError`).
        """
        ...

    async def set_enabled(self, name: str, enabled: bool) -> None:  # noqa: FBT001 - the public signature
        """Enable or disable the trigger called *name*.

        Disabling pauses it; enabling a disabled trigger resumes it and
        notes when (the store's clock), so that the windows it was disabled
        for are not caught up: it fires again from its next window.

        Raises:
            UnknownTriggerError: no trigger has that name (a `KeyError`).
            WrongTypeError: *enabled* is not a bool (a `TypeError`).
        """
        ...

    async def set_paused(self, kind: Kind, name: str, paused: bool) -> None:  # noqa: FBT001 - the public signature
        """Pause or resume a coordinated loop or a trigger, for every replica.

        A paused schedule's windows are not claimed (claims answer
        ``paused``). Resuming notes when (the store's clock): windows before
        it are not caught up. A trigger's pause is its ``enabled`` flag
        (`set_enabled`); a loop's row is made if it has none yet.

        Raises:
            UnknownTriggerError: no trigger has that name (a `KeyError`).
            InvalidConfigError: *kind* is not "trigger" or "loop".
            WrongTypeError: *paused* is not a bool (a `TypeError`).
        """
        ...

    async def remove(self, name: str) -> None:
        """Delete the trigger called *name*.

        Raises:
            UnknownTriggerError: no trigger has that name (a `KeyError`).
        """
        ...

    async def aclose(self) -> None:
        """Release the store's connections; later calls raise.

        Closes even when cancelled; calling it again is harmless.
        """
        ...

    async def __aenter__(self) -> Self:
        """Return the store itself."""
        ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the store."""
        ...


class StoreContext:
    """``async with store:`` for the tickwork stores: closes on the way out."""

    async def aclose(self) -> None:
        """Release the store's connections."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        """Return the store itself."""
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the store."""
        await self.aclose()


def check_new_trigger(
    name: object,
    interval: object,
    enabled: object,
    cron: object = None,
    timezone: object = None,
) -> tuple[str, str | None, str | None]:
    """Check the arguments of `TriggerStore.add`; stores call it first.

    The name follows the rule of every tickwork name (`check_name`): a
    non-empty str without surrounding white space or control characters, so
    a trigger's name cannot forge a log line. The schedule is checked by
    `check_schedule`.

    Returns:
        The ``interval, cron, timezone`` to store.

    Raises:
        InvalidConfigError: a bad name or schedule.
        WrongTypeError: a value of the wrong type.
    """
    check_name("name", name)
    schedule = check_schedule(interval, cron, timezone)
    check_bool("enabled", enabled)
    return schedule


def check_kind(kind: object) -> Kind:
    """Refuse a *kind* other than "trigger" or "loop"."""
    if kind not in KINDS:
        msg = f"'kind' must be 'trigger' or 'loop' (got {brief(kind)})"
        raise InvalidConfigError(msg)
    return kind


def check_outcomes(outcomes: Sequence[tuple[str, int, str]]) -> None:
    """Refuse an outcome that is not one of `tickwork._lease.OUTCOMES`."""
    for _key, _token, outcome in outcomes:
        if outcome not in OUTCOMES:
            msg = (
                f"'outcome' must be one of {', '.join(sorted(OUTCOMES))} "
                f"(got {brief(outcome)})"
            )
            raise InvalidConfigError(msg)


def check_store(store: object) -> None:
    """Refuse what is no `TriggerStore` (None, a path, a DSN) at once."""
    missing = [
        method
        for method in ("enabled", "claim_windows")
        if not callable(getattr(store, method, None))
    ]
    if missing:
        msg = (
            "'store' must be a TriggerStore such as SQLiteTriggerStore(path) "
            f"(got {brief(store)}, which has no {' or '.join(missing)})"
        )
        raise WrongTypeError(msg)


def check_clock(clock: object, name: str = "clock") -> Callable[[], float]:
    """Require a synchronous callable: a clock, in seconds since the epoch."""
    if not callable(clock) or is_recognisably_async(clock):
        msg = (
            f"{name!r} must be a synchronous callable returning seconds since "
            f"the Unix epoch, such as time.time (got {brief(clock)})"
        )
        raise WrongTypeError(msg)
    return clock


def check_lease(lease: object) -> int:
    """*lease* seconds (> 0) as microseconds."""
    return micros(check_positive("lease", lease))


def duplicate_name(name: str) -> InvalidConfigError:
    """The error every store raises when `add` meets a name it holds."""
    return InvalidConfigError(
        f"'name' must be unique in the store: a trigger named {brief(name)} exists"
    )


def unknown_name(name: str) -> UnknownTriggerError:
    """The error every store raises for a name it does not hold."""
    return UnknownTriggerError(f"no trigger named {brief(name)}")


def closed(store: object) -> TriggerStoreError:
    """The error every store raises when called after `TriggerStore.aclose`."""
    return TriggerStoreError(f"{store!r} is closed")
