"""The public surface: tickwork's __all__ is sorted, complete and importable."""

from __future__ import annotations

import subprocess
import sys
import types

import tickwork
from tickwork import triggers

# The fixed public names (docs/api.md) that exist so far, plus the error hierarchy.
CONTRACT_NAMES = {
    "Backoff",
    "DEFAULT_MAX_WAIT",
    "Done",
    "Failed",
    "Loop",
    "LoopStats",
    "PENDING",
    "PollFailed",
    "PollTimeout",
    "Scheduler",
    "ShutdownReport",
    "TickSchedule",
    "open_scheduler",
    "poll",
    "set_default_max_wait",
}


def test_all_is_sorted() -> None:
    """__all__ is in ruff's isort-style order (constants, classes, functions)."""

    def key(name: str) -> tuple[int, str]:
        kind = 0 if name.isupper() else 1 if name[0].isupper() else 2
        return (kind, name)

    assert tickwork.__all__ == sorted(tickwork.__all__, key=key)


def test_all_names_every_public_attribute_and_nothing_else() -> None:
    """Every public, non-module attribute is in __all__ and every name there exists."""
    public = {
        name
        for name, value in vars(tickwork).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name != "annotations"
    }
    assert set(tickwork.__all__) == public


def test_contract_names_are_exported() -> None:
    """Every name the public contract fixes is importable from tickwork."""
    assert set(tickwork.__all__) >= CONTRACT_NAMES


TRIGGER_NAMES = {
    "MemoryTriggerStore",
    "PostgresTriggerStore",
    "SQLiteTriggerStore",
    "SweepReport",
    "TriggerRow",
    "TriggerStore",
    "TriggerSweeper",
    "parse_interval",
}


def test_triggers_all_is_sorted_complete_and_has_the_contract_names() -> None:
    """tickwork.triggers exports the contract's names; __all__ is sorted and exact."""
    public = {
        name
        for name, value in vars(triggers).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name != "annotations"
    }
    assert set(triggers.__all__) == public
    assert triggers.__all__ == sorted(triggers.__all__)
    assert set(triggers.__all__) >= TRIGGER_NAMES


def test_the_core_imports_no_optional_extra() -> None:
    """psycopg and opentelemetry are extras: tickwork and its triggers need neither."""
    code = (
        "import sys, tickwork, tickwork.triggers; "
        "sys.exit(any(m.startswith(('psycopg', 'opentelemetry')) for m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], check=False)  # noqa: S603
    assert done.returncode == 0


def test_package_is_typed() -> None:
    """tickwork ships py.typed so type checkers use its annotations."""
    assert tickwork.__file__ is not None
    from pathlib import Path  # noqa: PLC0415 - only this test needs it

    assert (Path(tickwork.__file__).parent / "py.typed").is_file()
