"""Persisted triggers: "every 15 minutes" or "at 03:00 Berlin time", once per window.

A trigger's schedule is an interval or a cron expression in a time zone.
Rows live in a `TriggerStore` (`MemoryTriggerStore` for tests,
`SQLiteTriggerStore` embedded, `PostgresTriggerStore` for several
instances); a `TriggerSweeper` fires the due ones, claiming each window by a
compare-and-set before dispatching it, so delivery is at most once per window
even when several replicas sweep one database. ``python -m tickwork.triggers``
manages the rows from a shell.
"""

from __future__ import annotations

from tickwork._errors import TriggerStoreError, UnknownTriggerError
from tickwork._lease import WindowState
from tickwork.triggers._memory import MemoryTriggerStore
from tickwork.triggers._model import LoopRow, TriggerRow, parse_interval
from tickwork.triggers._postgres import PostgresTriggerStore
from tickwork.triggers._sqlite import SQLiteTriggerStore
from tickwork.triggers._store import TriggerStore
from tickwork.triggers._sweeper import SweepReport, TriggerSweeper

__all__ = [
    "LoopRow",
    "MemoryTriggerStore",
    "PostgresTriggerStore",
    "SQLiteTriggerStore",
    "SweepReport",
    "TriggerRow",
    "TriggerStore",
    "TriggerStoreError",
    "TriggerSweeper",
    "UnknownTriggerError",
    "WindowState",
    "parse_interval",
]
