"""MemoryTriggerStore: a TriggerStore in a dict, for tests and examples."""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING

import attrs
import trio

from tickwork._lease import WindowState, claim_all, finish_all, micros, renew_all
from tickwork._validation import check_bool
from tickwork.triggers._model import LoopRow, TriggerRow, micros_timestamp
from tickwork.triggers._store import (
    StoreContext,
    check_clock,
    check_kind,
    check_lease,
    check_new_trigger,
    check_outcomes,
    closed,
    duplicate_name,
    unknown_name,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from tickwork._lease import Claim, Claimed
    from tickwork.triggers._store import Kind


class MemoryTriggerStore(StoreContext):
    """A `TriggerStore` that keeps its rows in memory; nothing persists.

    *rows* are taken as given, broken ones included (an interval that does not
    parse, a timestamp that is not RFC 3339), so a test can show the sweeper
    bad data; only `add` checks its arguments. *clock* is the store's clock
    (seconds since the Unix epoch, `time.time` by default): leases expire and
    windows become claimable by it, so a test on Trio's MockClock can pass
    one that follows `trio.current_time`. Every method is a Trio
    checkpoint, as a real store's would be. Tests may subclass it to make a
    method fail or race.

    Raises:
        InvalidConfigError: two of *rows* share a name or an id.

    Example:
        >>> store = MemoryTriggerStore([TriggerRow("t1", "refresh", "15m", True, None)])
    """

    def __init__(
        self, rows: Iterable[TriggerRow] = (), *, clock: Callable[[], float] = time.time
    ) -> None:
        """Hold *rows*, checking only that names and ids are unique."""
        self._rows: dict[str, TriggerRow] = {}
        self._ids: dict[str, str] = {}  # name -> id
        self._loops: dict[str, WindowState] = {}
        self._closed = False
        self.clock = check_clock(clock)
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

    async def claim_windows(
        self, kind: Kind, claims: Sequence[Claim], *, lease: float, holder: str
    ) -> Sequence[Claimed]:
        """Apply the claim rules to *claims* on the store's clock (`TriggerStore`)."""
        lease_us = check_lease(lease)
        check_kind(kind)
        await self._ready()
        states = self._states(kind, [c.key for c in claims], create=True)
        now = micros(self.clock())
        answers, changed = claim_all(states, claims, now, lease_us, holder)
        self._write(kind, states, changed, micros_timestamp(now))
        return answers

    async def renew_leases(
        self, kind: Kind, leases: Sequence[tuple[str, int]], *, lease: float
    ) -> Sequence[bool]:
        """Extend each ``(key, token)`` lease (see `TriggerStore`)."""
        lease_us = check_lease(lease)
        await self._ready()
        states = self._states(check_kind(kind), [key for key, _ in leases])
        done, changed = renew_all(states, leases, micros(self.clock()), lease_us)
        self._write(kind, states, changed, None)
        return done

    async def finish_windows(
        self, kind: Kind, outcomes: Sequence[tuple[str, int, str]]
    ) -> Sequence[bool]:
        """Record each ``(key, token, outcome)`` (see `TriggerStore`)."""
        check_outcomes(outcomes)
        await self._ready()
        states = self._states(check_kind(kind), [key for key, _, _ in outcomes])
        done, changed = finish_all(states, outcomes, micros(self.clock()))
        self._write(kind, states, changed, None)
        return done

    async def loops(self) -> Sequence[LoopRow]:
        """Every coordinated loop's window state, ordered by name."""
        await self._ready()
        return [LoopRow(name, self._loops[name]) for name in sorted(self._loops)]

    def _states(
        self, kind: Kind, keys: Sequence[str], *, create: bool = False
    ) -> dict[str, WindowState | None]:
        if kind == "loop":
            loops = self._loops
            if create:  # a claim makes the loop's row, won or not
                for key in keys:
                    if key not in loops:
                        loops[key] = WindowState()
                return {key: loops[key] for key in keys}
            return {key: loops.get(key) for key in keys}
        rows = self._rows
        return {key: row.state if (row := rows.get(key)) else None for key in keys}

    def _write(
        self,
        kind: Kind,
        states: dict[str, WindowState | None],
        changed: set[str],
        claimed_at: str | None,
    ) -> None:
        for key in changed:
            state = states[key]
            assert state is not None  # noqa: S101 - only existing states change
            if kind == "loop":
                self._loops[key] = state
            else:
                row = self._rows[key]
                stamp = row.last_fired_at if claimed_at is None else claimed_at
                self._rows[key] = row.with_state(state, stamp)

    async def add(
        self,
        *,
        name: str,
        interval: str | None = None,
        enabled: bool = True,
        cron: str | None = None,
        timezone: str | None = None,
    ) -> TriggerRow:
        """Create a trigger that never fired, anchored at the store's now.

        Its schedule is *interval* (duration text such as ``"15m"``: the
        trigger fires at the first sweep, then every interval) or *cron*
        (an expression such as ``"0 3 * * *"``, read in *timezone*, an IANA
        zone name, UTC by default: the trigger first fires at its first
        fire time after it was added), exactly one of them. A calendar
        trigger is stored with the empty string as its interval and its
        zone spelled out. The SQL stores' ``add`` is the same.

        Raises:
            InvalidConfigError: a bad interval (see `parse_interval`), a bad
                cron expression or an unknown zone (the message names the
                field), both schedules or neither, a *timezone* with an
                interval, a name that is empty, has surrounding white space
                or control characters, or a name the store already holds (a
                `ValueError`).
            WrongTypeError: a value of the wrong type (a `TypeError`).

        Example:
            >>> store = MemoryTriggerStore()
            >>> row = trio.run(
            ...     lambda: store.add(
            ...         name="nightly", cron="0 3 * * *", timezone="Europe/Berlin"
            ...     )
            ... )
            >>> row.interval, row.cron, row.timezone
            ('', '0 3 * * *', 'Europe/Berlin')
        """
        every, cron, timezone = check_new_trigger(
            name, interval, enabled, cron, timezone
        )
        await self._ready()
        if name in self._ids:
            raise duplicate_name(name)
        row = TriggerRow(
            uuid.uuid4().hex,
            name,
            every,
            enabled,
            None,
            micros(self.clock()),
            cron=cron,
            timezone=timezone,
        )
        self._rows[row.id] = row
        self._ids[name] = row.id
        return row

    async def set_enabled(self, name: str, enabled: bool) -> None:  # noqa: FBT001 - the public signature
        """Enable or disable the trigger called *name* (see `TriggerStore`)."""
        check_bool("enabled", enabled)
        await self._ready()
        self._set_enabled(name, enabled=enabled)

    def _set_enabled(self, name: str, *, enabled: bool) -> None:
        row = self._rows[self._id(name)]
        resumed = row.resumed_us
        if enabled and row.enabled is False:
            resumed = micros(self.clock())
        self._rows[row.id] = attrs.evolve(row, enabled=enabled, resumed_us=resumed)

    async def set_paused(self, kind: Kind, name: str, paused: bool) -> None:  # noqa: FBT001 - the public signature
        """Pause or resume a loop or a trigger (see `TriggerStore`)."""
        check_kind(kind)
        check_bool("paused", paused)
        await self._ready()
        if kind == "trigger":
            self._set_enabled(name, enabled=not paused)
            return
        state = self._loops.setdefault(name, WindowState())  # made, like a claim's
        if state.paused != paused:
            resumed = state.resumed if paused else micros(self.clock())
            self._loops[name] = attrs.evolve(state, paused=paused, resumed=resumed)

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
