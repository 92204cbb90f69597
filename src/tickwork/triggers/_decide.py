"""Which rows of a sweep are due: the per-row rules, made cheap.

Pure: no trio, no clock; "now" is an argument in microseconds since the
epoch, so every comparison is exact integer arithmetic. A sweep reads every
enabled row, so the common row (valid interval, timestamp in the sweeper's own
form, not due) costs two dict lookups and a comparison: parsed intervals and
timestamps are remembered between sweeps (timestamps only while some row
still carries them, so the memory stays one entry per distinct text).

Rows come from a store unchecked. A row whose fields are not what the sweep
needs (an id that is not non-empty text, a name or a timestamp that is not
text: a store hands back undecodable text as bytes and a NULL as None; an
``enabled`` that is no bool) is invalid: reported, skipped alone, never
claimed. Only rows about to be due are checked this way; a broken interval
or timestamp fails its own parse.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final, final

import attrs

from tickwork._text import brief, cut
from tickwork.triggers._model import interval_seconds, timestamp_micros

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tickwork._hooks import Hooks
    from tickwork.triggers._model import TriggerRow

LOGGER = logging.getLogger("tickwork.triggers")

_MICROS: Final = 1_000_000
# Distinct interval texts are few in practice; a table that somehow grows
# past this is cleared rather than allowed to grow without bound.
_MAX_INTERVALS: Final = 4096


@final
@attrs.define
class Decisions:
    """One sweep's verdicts before any claim: names in listing order."""

    due: list[TriggerRow] = attrs.Factory(list)
    not_due: list[str] = attrs.Factory(list)
    invalid: list[str] = attrs.Factory(list)
    catch_up: dict[str, float] = attrs.Factory(dict)
    """name -> how many intervals overdue, for due rows past catch_up_factor."""


@final
class Decider:
    """Applies the sweep rules to rows; one per sweeper, reused every sweep."""

    __slots__ = ("_catch_up", "_hooks", "_intervals", "_min", "_stamps", "_warned")

    def __init__(
        self, min_interval: float, catch_up_factor: float, hooks: Hooks
    ) -> None:
        """Rules with their thresholds; *hooks* hear about invalid rows."""
        self._min = min_interval
        self._catch_up = catch_up_factor
        self._hooks = hooks
        self._intervals: dict[str, int] = {}  # valid interval text -> microseconds
        self._stamps: dict[str, int] = {}  # timestamp text -> microseconds
        # Rows warned about, with the text that was wrong: a broken row logs
        # one WARNING, not one per tick (the reports still list it each time).
        self._warned: dict[str, str] = {}

    def decide(self, rows: Sequence[TriggerRow], now_us: int) -> Decisions:  # noqa: C901 - one inlined hot loop
        """Sort *rows* into due, not due and invalid, as of *now_us*."""
        out = Decisions()
        not_due = out.not_due
        intervals, stamps, warned = self._intervals, self._stamps, self._warned
        seen: dict[str, int] = {}
        for row in rows:
            try:
                interval_us = intervals.get(row.interval)
                if (
                    interval_us is None
                    and (interval_us := self._interval(row, out)) is None
                ):
                    continue
                last = row.last_fired_at
                if last is None:
                    self._due(row, out)
                    continue
                last_us = stamps.get(last)
                if last_us is None:
                    stored: object = last  # a store may hand back bytes
                    if not isinstance(stored, str):
                        self._invalid(row, out, _broken("last_fired_at", stored))
                        continue
                    last_us = self._timestamp(row)
                    if last_us is None:
                        self._due(row, out)
                        continue
                seen[last] = last_us
                elapsed = now_us - last_us
                if -elapsed > interval_us:
                    self._warn_once(
                        row,
                        last,
                        "trigger %s: last_fired_at %s is more than one interval in "
                        "the future; not firing it until then (check the clocks)",
                    )
                elif warned:
                    warned.pop(row.id, None)  # fixed since: warn again if it breaks
                if elapsed < interval_us:
                    not_due.append(row.name)
                    continue
                if elapsed > self._catch_up * interval_us:
                    out.catch_up[row.name] = elapsed / interval_us
                self._due(row, out)
            except Exception as exc:  # noqa: BLE001 - a broken row never ends a sweep
                self._invalid(row, out, f"the row could not be read: {brief(exc)}")
        self._stamps = seen
        return out

    def _due(self, row: TriggerRow, out: Decisions) -> None:
        """Append a due row to ``out.due``, unless it is broken."""
        ident: object = row.id  # as the store gave it: maybe None or bytes
        name: object = row.name
        if not (isinstance(ident, str) and ident):
            self._invalid(row, out, _broken("id", ident))
        elif not isinstance(name, str):
            self._invalid(row, out, _broken("name", name))
        elif row.enabled is not True:  # listed as enabled, but no bool
            self._invalid(row, out, f"its enabled {brief(row.enabled)} is not a bool")
        else:
            out.due.append(row)

    def _interval(self, row: TriggerRow, out: Decisions) -> int | None:
        """Parse an interval not seen yet: its microseconds, or None if invalid."""
        try:
            seconds = interval_seconds(row.interval)
        except (ValueError, TypeError) as exc:
            reason = f"interval {brief(row.interval)} does not parse: {cut(str(exc))}"
            self._invalid(row, out, reason)
            return None
        if seconds < self._min:
            self._invalid(
                row,
                out,
                f"interval {brief(row.interval)} is below min_interval {self._min:g} s",
            )
            return None
        if len(self._intervals) >= _MAX_INTERVALS:
            self._intervals.clear()
        self._intervals[row.interval] = seconds * _MICROS
        return seconds * _MICROS

    def _timestamp(self, row: TriggerRow) -> int | None:
        """Parse a timestamp not seen last sweep; None (and a WARNING) if bad."""
        try:
            return timestamp_micros(row.last_fired_at)  # type: ignore[arg-type]
        except (ValueError, TypeError):
            self._warn_once(
                row,
                row.last_fired_at,
                "trigger %s: last_fired_at %s is not an RFC 3339 timestamp; "
                "treating it as due",
            )
            return None

    def _invalid(self, row: TriggerRow, out: Decisions, reason: str) -> None:
        name: object = row.name  # a broken row may have no text name
        out.invalid.append(name if isinstance(name, str) else brief(name))
        self._warn_once(row, reason, "trigger %s is invalid: %s", cut(reason, 600))
        self._hooks.emit("on_trigger_invalid", trigger=row, reason=reason)

    def _warn_once(
        self, row: TriggerRow, text: object, message: str, *args: object
    ) -> None:
        """WARNING about *row*, once per wrong *text*; DEBUG afterwards.

        Values in the line are cut to 200 characters; the memory of what was
        warned about keeps a digest-sized key, not a huge value.
        """
        key = brief(text)
        first = self._warned.get(row.id) != key
        self._warned[row.id] = key
        level = logging.WARNING if first else logging.DEBUG
        if not LOGGER.isEnabledFor(level):
            return
        name: object = row.name  # a broken row may have no text name
        LOGGER.log(
            level,
            message,
            brief(name),
            *(args or (key,)),
            extra={"tickwork_trigger": name if isinstance(name, str) else brief(name)},
        )


def _broken(field: str, value: object) -> str:
    """The reason a row with a broken *field* is invalid."""
    return f"its {field} {brief(value)} is not usable text"
