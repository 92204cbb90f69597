"""Helpers shared by the benchmark scripts: percentiles, tables, JSON results."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from types import ModuleType

    from matplotlib.figure import Figure

RESULTS = Path(__file__).parent / "results"


def percentile(sorted_values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return float("nan")
    index = min(
        len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1)))
    )
    return sorted_values[index]


def environment() -> dict[str, Any]:
    """What the numbers were measured on."""
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "trio": metadata.version("trio"),
        "tickwork": metadata.version("tickwork"),
        "measured_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


def print_table(title: str, headers: list[str], rows: list[list[str]]) -> None:
    """Print a GitHub-flavoured Markdown table, ready to paste into the README."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    print(f"\n### {title}\n")
    print(
        "| "
        + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
        + " |"
    )
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print(
            "| "
            + " | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True))
            + " |"
        )
    sys.stdout.flush()


def write_results(name: str, payload: dict[str, Any]) -> Path:
    """Write benchmarks/results/<name>.json with the environment attached."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(
        json.dumps({"environment": environment(), **payload}, indent=2) + "\n"
    )
    print(f"\nwrote {_shown(path)}")
    return path


def _shown(path: Path) -> Path:
    """*path* relative to the working directory when under it: no machine paths."""
    return path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path


def progress(message: str) -> None:
    """One line of progress on stderr, so tables on stdout stay clean."""
    print(f"  .. {message}", file=sys.stderr, flush=True)


def run_in_phase(
    tasks: int, task: Callable[[float], Awaitable[None]], warm_up: float = 0.5
) -> float:
    """Run *tasks* copies of ``task(anchor)`` in one ``trio.run``.

    The anchor is *warm_up* seconds after the start, so every task is started
    and asleep by then. Returns the CPU seconds from the anchor until the last
    task ends: the ticking, not the start-up.
    """

    async def main() -> float:
        anchor = trio.current_time() + warm_up
        async with trio.open_nursery() as nursery:
            for _ in range(tasks):
                nursery.start_soon(task, anchor)
            await trio.sleep_until(anchor)
            cpu = time.process_time()
        return time.process_time() - cpu

    return trio.run(main)


def pyplot() -> ModuleType | None:
    """matplotlib's pyplot on the file-only Agg backend, or None without it."""
    try:
        import matplotlib as mpl  # noqa: PLC0415 - bench group only

        mpl.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        progress("matplotlib missing: no plot")
        return None
    return plt


def save_plot(plt: ModuleType, figure: Figure, name: str) -> Path:
    """Write *figure* to benchmarks/results/<name> and close it."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)
    progress(f"wrote {_shown(path)}")
    return path
