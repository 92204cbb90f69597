"""What a trigger store is: the protocol, and what every store shares.

The sweeper and the command line use only `TriggerStore`. The helpers here
keep the three stores alike: the same checks of a new trigger and the same
errors, worded once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from tickwork._errors import InvalidConfigError, TriggerStoreError, UnknownTriggerError
from tickwork._text import brief
from tickwork._validation import check_bool, check_name
from tickwork.triggers._model import parse_interval

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import TracebackType

    from typing_extensions import Self

    from tickwork.triggers._model import TriggerRow


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

    async def add(
        self, *, name: str, interval: str, enabled: bool = True
    ) -> TriggerRow:
        """Create a trigger that never fired.

        Raises:
            InvalidConfigError: a bad interval (see `parse_interval`), a name
                that is empty, has surrounding white space or control
                characters, or a name the store already holds (a `ValueError`).
            WrongTypeError: a value of the wrong type (a `TypeError`).
        """
        ...

    async def set_enabled(self, name: str, enabled: bool) -> None:  # noqa: FBT001 - the public signature
        """Enable or disable the trigger called *name*.

        Raises:
            UnknownTriggerError: no trigger has that name (a `KeyError`).
            WrongTypeError: *enabled* is not a bool (a `TypeError`).
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


def check_new_trigger(name: object, interval: object, enabled: object) -> None:
    """Check the arguments of `TriggerStore.add`; stores call it first.

    The name follows the rule of every tickwork name (`check_name`): a
    non-empty str without surrounding white space or control characters, so
    a trigger's name cannot forge a log line.

    Raises:
        InvalidConfigError: a bad name or interval text.
        WrongTypeError: a value of the wrong type.
    """
    check_name("name", name)
    parse_interval(interval)  # type: ignore[arg-type]  # it checks the type itself
    check_bool("enabled", enabled)


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
