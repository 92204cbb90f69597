"""A store's listing kept as the tuples it read: a `TriggerRow` is built when asked for.

A sweep reads every enabled row but hands a `TriggerRow` on for only a few
(the due, the held, the invalid). Building a frozen attrs object per row, and
the garbage collector tracing 100 000 of them, cost more than the query
itself (~2.6 µs a row, ~290 ms of a 100 000-row sweep; a plain tuple of
text and numbers is untracked by the collector). So the SQL stores list
into `Rows`, a `Sequence` of `TriggerRow` like any other, and the sweeper's
decider reads the tuples (`values_of`) without building the rows.

Pure: no trio, no clock, no SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final, final, overload

from tickwork.triggers._model import TriggerRow

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

Values = tuple[Any, ...]
"""A row's values in `FIELDS` order, as the store read them."""

FIELDS: Final = (
    "id",
    "name",
    "interval",
    "enabled",
    "last_fired_at",
    "anchor_us",
    "window_us",
    "token",
    "holder",
    "lease_until_us",
    "outcome",
    "attempt",
    "lost",
    "cron",
    "timezone",
)
"""The fields of `TriggerRow`, in the order of its constructor and of `Values`."""


def _row(values: Values) -> TriggerRow:
    return TriggerRow(*values)


@final
class Rows(Sequence[TriggerRow]):
    """Rows as read, each built into a `TriggerRow` on access (see the module).

    *values* are in `FIELDS` order; *make* builds a row from one of them
    (``TriggerRow(*values)`` by default; a store that decodes a field as it
    builds the row, as SQLite does ``enabled``, passes its own). Only
    ``enabled`` may differ between the values and the row built: the
    decider never reads it from the values. Two listings compare equal to
    each other, or to a list or tuple, when their rows do.
    """

    __slots__ = ("_make", "values")

    def __init__(
        self, values: list[Values], make: Callable[[Values], TriggerRow] = _row
    ) -> None:
        """Keep *values*; *make* builds each row."""
        self.values = values
        self._make = make

    def __len__(self) -> int:
        """How many rows."""
        return len(self.values)

    @overload
    def __getitem__(self, index: int) -> TriggerRow: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[TriggerRow]: ...

    def __getitem__(self, index: int | slice) -> TriggerRow | Sequence[TriggerRow]:
        """The row at *index*, built now; a slice is `Rows` again."""
        if isinstance(index, slice):
            return Rows(self.values[index], self._make)
        return self._make(self.values[index])

    def __iter__(self) -> Iterator[TriggerRow]:
        """Each row, built as it comes."""
        return map(self._make, self.values)

    def __eq__(self, other: object) -> bool:
        """Equal to a sequence (`Rows`, list, tuple) holding equal rows in order."""
        if isinstance(other, (Rows, list, tuple)):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, like a list

    def __repr__(self) -> str:
        """Like a list's."""
        return f"Rows({list(self)!r})"


def values_of(rows: Sequence[TriggerRow]) -> Sequence[Values]:
    """The values of *rows* in `FIELDS` order: a `Rows`'s own, or read from each row."""
    if isinstance(rows, Rows):
        return rows.values
    return [
        (
            r.id,
            r.name,
            r.interval,
            r.enabled,
            r.last_fired_at,
            r.anchor_us,
            r.window_us,
            r.token,
            r.holder,
            r.lease_until_us,
            r.outcome,
            r.attempt,
            r.lost,
            r.cron,
            r.timezone,
        )
        for r in rows
    ]
