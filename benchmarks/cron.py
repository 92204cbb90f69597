"""Next fire time after t: CronSchedule next to croniter and cronsim.

For a mixed set of expressions and zones, each implementation answers "the
first fire time after t" for the same random instants t (2020-2030, seeded),
one timed call per instant:

- ``tickwork``: `CronSchedule.next_fire_time` on a schedule built once;
- ``tickwork+parse``: a schedule built for each call, as the peers do;
- ``croniter``: ``croniter(expr, t).get_next(datetime)``;
- ``cronsim``: ``next(CronSim(expr, t))``.

The peers take and return local aware datetimes; tickwork takes any aware
datetime and returns UTC. Reports the median and p99 per call in µs and how
often each peer's answer is the same instant as tickwork's defaults
(``on_gap="shift"``, ``on_fold="first"``; the peers' DST rules differ, so
disagreement clusters on the transition cases). Writes
``benchmarks/results/cron.json``.

Usage: ``python benchmarks/cron.py [--calls N] [--quick] [--seed S]``
"""

from __future__ import annotations

import argparse
import random
import time
import zoneinfo
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from _common import percentile, print_table, progress, write_results
from tickwork._cron import CronSchedule

if TYPE_CHECKING:
    from collections.abc import Callable

CASES = [
    ("*/5 * * * *", "UTC"),
    ("0 3 * * *", "Europe/Berlin"),
    ("0 9 * * MON", "America/New_York"),
    ("0 0 1 * *", "UTC"),
    ("0 0 29 2 *", "UTC"),
    ("30 2 * * *", "America/New_York"),
    ("15,45 */2 * * 1-5", "Asia/Tokyo"),
    ("0 0 * * *", "America/Sao_Paulo"),
]
START = datetime(2020, 1, 1, tzinfo=timezone.utc)
SPAN = timedelta(days=3653)


def implementations(
    expression: str, zone_name: str
) -> dict[str, Callable[..., datetime]]:
    """The callables to time, each mapping an aware instant to the next fire time."""
    zone = zoneinfo.ZoneInfo(zone_name)
    schedule = CronSchedule(expression, timezone=zone_name)
    found: dict[str, Callable[..., datetime]] = {
        "tickwork": schedule.next_fire_time,
        "tickwork+parse": lambda t: CronSchedule(
            expression, timezone=zone_name
        ).next_fire_time(t),
    }
    try:
        from croniter import croniter  # noqa: PLC0415 - bench group only

        found["croniter"] = lambda t: croniter(expression, t.astimezone(zone)).get_next(
            datetime
        )
    except ImportError:
        progress("croniter missing: not measured")
    try:
        from cronsim import CronSim  # noqa: PLC0415 - bench group only

        found["cronsim"] = lambda t: next(CronSim(expression, t.astimezone(zone)))
    except ImportError:
        progress("cronsim missing: not measured")
    return found


def measure(
    query: Callable[..., datetime], instants: list[datetime], reference: list[datetime]
) -> dict[str, float]:
    """Time one call per instant; count answers equal to the reference."""
    for instant in instants[:20]:  # warm caches and the zone
        query(instant)
    timings: list[float] = []
    agree = 0
    for instant, expected in zip(instants, reference, strict=True):
        started = time.perf_counter_ns()
        answer = query(instant)
        timings.append((time.perf_counter_ns() - started) / 1e3)
        agree += answer == expected
    timings.sort()
    return {
        "median_us": percentile(timings, 0.50),
        "p99_us": percentile(timings, 0.99),
        "agree": agree / len(instants),
    }


def main() -> None:
    """Measure every implementation on every case, print the table, write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--quick", action="store_true", help="200 calls per case")
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()
    calls = 200 if args.quick else args.calls
    rng = random.Random(args.seed)

    results: list[dict[str, object]] = []
    rows: list[list[str]] = []
    for expression, zone in CASES:
        instants = [
            START + timedelta(seconds=rng.uniform(0, SPAN.total_seconds()))
            for _ in range(calls)
        ]
        variants = implementations(expression, zone)
        reference = [variants["tickwork"](instant) for instant in instants]
        for name, query in variants.items():
            progress(f"cron: {expression!r} in {zone}, {name}, {calls} calls")
            stats = measure(query, instants, reference)
            results.append(
                {"expression": expression, "zone": zone, "variant": name, **stats}
            )
            rows.append(
                [
                    expression,
                    zone,
                    name,
                    f"{stats['median_us']:.1f}",
                    f"{stats['p99_us']:.1f}",
                    f"{stats['agree']:.1%}",
                ]
            )
    print_table(
        f"Next fire time after t ({calls} calls per case)",
        ["expression", "zone", "variant", "median µs", "p99 µs", "same instant"],
        rows,
    )
    write_results("cron", {"calls": calls, "seed": args.seed, "results": results})


if __name__ == "__main__":
    main()
