"""The example service runs as the README says, twice on one trigger file.

It is a real service (a TCP upstream, SQLite in worker threads, an exporter
thread), so it runs in real time as a subprocess for a few seconds; the
assertions are the ones that hold whatever the machine's speed.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).parent.parent / "examples" / "service.py"


def run_example(db: Path) -> str:
    """Run the example for 4.5 s with only the final metric export; its stdout."""
    done = subprocess.run(  # noqa: S603 - our own script
        [
            sys.executable,
            str(EXAMPLE),
            "--seconds=4.5",
            f"--db={db}",
            "--export-interval=600",
            "--ships-after=1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def series(out: str, name: str, labels: str) -> int:
    """The value the console exporter printed for one counter series."""
    match = re.search(
        rf"^metric {re.escape(name)} {{{labels}}} (\d+)$", out, re.MULTILINE
    )
    assert match is not None, f"no {name} {{{labels}}} in:\n{out}"
    return int(match.group(1))


@pytest.mark.slow
def test_example_service_runs_its_loops_poller_triggers_and_metrics(
    tmp_path: Path,
) -> None:
    """Loops run and skip, the poller gets its answer, triggers persist windows."""
    db = tmp_path / "triggers.db"
    first = run_example(db)
    assert "order-watcher: order 42 shipped" in first
    assert "trigger fired: cache-refresh (every 30s)" in first
    assert first.count("trigger fired: nightly-export (every 24h)") == 1
    assert "shutdown report: ShutdownReport(" in first
    # Every third flaky-sync run fails; the loop goes on; slow-report skips.
    assert series(first, "tickwork.loop.runs", "loop=flaky-sync,outcome=failed") >= 1
    assert series(first, "tickwork.loop.skipped_ticks", "loop=slow-report") >= 2
    assert series(first, "tickwork.loop.runs", "loop=heartbeat,outcome=succeeded") >= 4
    assert series(first, "tickwork.trigger.fires", "") == 2
    # Seconds later, on the same file: neither window has come again.
    second = run_example(db)
    assert "trigger fired" not in second
    assert "order-watcher: order 42 shipped" in second
