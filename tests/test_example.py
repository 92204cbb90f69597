"""The example service runs as documented (under a MockClock, so in no time)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

import trio
import trio.testing

if TYPE_CHECKING:
    from types import ModuleType

    import pytest

EXAMPLE = Path(__file__).parent.parent / "examples" / "service.py"


def _load() -> ModuleType:
    """Import examples/service.py as a module."""
    spec = importlib.util.spec_from_file_location("example_service", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_service_skips_fails_polls_and_reports(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Ten virtual seconds: skips on the slow loop, isolated failures, a report."""
    # Stopping at 10.25 s keeps every loop's next instant (heartbeat 10 +/- 0.05,
    # flaky-sync 9 and 10.5 +/- 0.075) clear of the stop, so the counts are exact
    # whatever the seeded jitter.
    service = _load()
    trio.run(
        service.main, 10.25, 0.5, 7, clock=trio.testing.MockClock(autojump_threshold=0)
    )
    out = capsys.readouterr().out
    assert (
        "shutdown report: ShutdownReport(timed_out=True, cancelled=('slow-report',))"
        in out
    )
    assert "heartbeat      runs=11 ok=11 failed=0" in out
    assert "flaky-sync     runs=7 ok=5 failed=2" in out
    assert "order-watcher  runs=1 ok=1" in out
    assert (
        "slow-report    runs=4 ok=3 failed=0 timed_out=0 cancelled=1 skipped=6" in out
    )
