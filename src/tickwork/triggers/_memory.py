"""MemoryTriggerStore: a TriggerStore in a dict, for tests and examples."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import attrs
import trio

from tickwork._validation import check_bool
from tickwork.triggers._model import TriggerRow
from tickwork.triggers._store import (
    StoreContext,
    check_new_trigger,
    closed,
    duplicate_name,
    unknown_name,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence


class MemoryTriggerStore(StoreContext):
    """A `TriggerStore` that keeps its rows in memory; nothing persists.

    *rows* are taken as given, broken ones included (an interval that does not
    parse, a timestamp that is not RFC 3339), so a test can show the sweeper
    bad data; only `add` checks its arguments. Every method is a Trio
    checkpoint, as a real store's would be. Tests may subclass it to make a
    method fail or race.

    Raises:
        InvalidConfigError: two of *rows* share a name or an id.

    Example:
        >>> store = MemoryTriggerStore([TriggerRow("t1", "refresh", "15m", True, None)])
    """

    def __init__(self, rows: Iterable[TriggerRow] = ()) -> None:
        """Hold *rows*, checking only that names and ids are unique."""
        self._rows: dict[str, TriggerRow] = {}
        self._ids: dict[str, str] = {}  # name -> id
        self._closed = False
        for row in rows:
            if row.name in self._ids or row.id in self._rows:
                raise duplicate_name(row.name)
            self._rows[row.id] = row
            self._ids[row.name] = row.id

    def __repr__(self) -> str:
        """Show how many rows the store holds."""
        return f"<MemoryTriggerStore with {len(self._rows)} row(s)>"

    async def _ready(self) -> None:
        await trio.lowlevel.checkpoint()
        if self._closed:
            raise closed(self)

    async def enabled(self) -> Sequence[TriggerRow]:
        """The rows with ``enabled=True``, ordered by name."""
        await self._ready()
        return sorted(
            (row for row in self._rows.values() if row.enabled),
            key=lambda row: row.name,
        )

    async def all(self) -> Sequence[TriggerRow]:
        """Every row, ordered by name."""
        await self._ready()
        return sorted(self._rows.values(), key=lambda row: row.name)

    async def claim(self, trigger_id: str, seen: str | None, fired_at: str) -> bool:
        """Store *fired_at* if ``last_fired_at`` still equals *seen*."""
        await self._ready()
        return self._claim(trigger_id, seen, fired_at)

    async def claim_many(
        self, claims: Sequence[tuple[str, str | None]], fired_at: str
    ) -> frozenset[str]:
        """`claim` for each ``(trigger_id, seen)`` pair; the ids won."""
        await self._ready()
        return frozenset(
            trigger_id
            for trigger_id, seen in claims
            if self._claim(trigger_id, seen, fired_at)
        )

    def _claim(self, trigger_id: str, seen: str | None, fired_at: str) -> bool:
        row = self._rows.get(trigger_id)
        if row is None or row.last_fired_at != seen:
            return False
        self._rows[trigger_id] = attrs.evolve(row, last_fired_at=fired_at)
        return True

    async def add(
        self, *, name: str, interval: str, enabled: bool = True
    ) -> TriggerRow:
        """Create a trigger that never fired (see `TriggerStore.add`)."""
        check_new_trigger(name, interval, enabled)
        await self._ready()
        if name in self._ids:
            raise duplicate_name(name)
        row = TriggerRow(uuid.uuid4().hex, name, interval, enabled, None)
        self._rows[row.id] = row
        self._ids[name] = row.id
        return row

    async def set_enabled(self, name: str, enabled: bool) -> None:  # noqa: FBT001 - the public signature
        """Enable or disable the trigger called *name*."""
        check_bool("enabled", enabled)
        await self._ready()
        row = self._rows[self._id(name)]
        self._rows[row.id] = attrs.evolve(row, enabled=enabled)

    async def remove(self, name: str) -> None:
        """Delete the trigger called *name*."""
        await self._ready()
        del self._rows[self._id(name)]
        del self._ids[name]

    def _id(self, name: str) -> str:
        try:
            return self._ids[name]
        except KeyError:
            raise unknown_name(name) from None

    async def aclose(self) -> None:
        """Mark the store closed; later calls raise `TriggerStoreError`."""
        self._closed = True
        await trio.lowlevel.checkpoint()
