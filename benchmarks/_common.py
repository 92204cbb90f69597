"""Helpers shared by the benchmark scripts: percentiles, tables, JSON results."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

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
    shown = path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path
    print(f"\nwrote {shown}")
    return path


def progress(message: str) -> None:
    """One line of progress on stderr, so tables on stdout stay clean."""
    print(f"  .. {message}", file=sys.stderr, flush=True)
