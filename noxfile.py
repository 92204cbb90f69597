"""The sessions: tests, typing, lint, bench, docs, example and torture.

The README's two commands call ``nox -s bench`` and ``nox -s tests``; CI
(``.ci/run``) calls the same test command, then ``nox -s docs``. ``torture``
(4 replica processes on a throwaway PostgreSQL, kills and an outage, about
3 minutes) is run by hand.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["tests", "typing", "lint"]
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).parent
PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")

# Each benchmark is a script (with its arguments) that prints a table and
# writes benchmarks/results/<name>.json; they run in this order, in ~12 min.
BENCHMARKS = [
    ["ticker_drift.py"],
    ["ticks.py"],
    # Its lateness table is peers.py's floor and tickwork rows: not twice.
    ["scheduler.py", "--no-lateness"],
    ["peers.py"],
    ["cofire_poll.py"],
    ["overlap.py"],
    ["drift.py"],
    ["trigger_sweep.py"],
    ["coordinated.py"],
    ["trigger_windows.py"],
    ["cron.py"],
]


def _install(session: nox.Session, *groups: str, extras: str = "") -> None:
    """Install the project (editable, with *extras*) and dependency *groups*."""
    deps = nox.project.dependency_groups(PYPROJECT, *groups)
    session.install(*deps, "-e", f".{extras}")


@nox.session
def tests(session: nox.Session) -> None:
    """Run the whole test suite with branch coverage."""
    _install(session, "tests")
    session.run("coverage", "erase")
    session.run("coverage", "run", "-m", "pytest", *session.posargs)
    session.run("coverage", "report")


@nox.session
def typing(session: nox.Session) -> None:
    """mypy --strict on src and tests, against trio's own inline types."""
    _install(session, "typing")
    session.run("mypy", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff lint and format check."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def bench(session: nox.Session) -> None:
    """Run every benchmark: tables on stdout, JSON under benchmarks/results/."""
    _install(session, "bench")
    env = {"PYTHONUNBUFFERED": "1"}
    selected = [[name] for name in session.posargs] or BENCHMARKS
    for script, *args in selected:
        session.run("python", os.fspath(ROOT / "benchmarks" / script), *args, env=env)


@nox.session
def docs(session: nox.Session) -> None:
    """Build the HTML docs and run their doctests; any warning is an error."""
    _install(session, "docs", extras="[otel,postgres]")
    out = ROOT / "docs" / "_build"
    for builder in ("html", "doctest"):
        session.run(
            "sphinx-build",
            "-W",
            "--keep-going",
            "-b",
            builder,
            "docs",
            os.fspath(out / builder),
        )


@nox.session
def example(session: nox.Session) -> None:
    """Run examples/service.py (arguments after ``--`` go to it)."""
    _install(session, "example", extras="[otel]")
    session.run("python", os.fspath(ROOT / "examples" / "service.py"), *session.posargs)


@nox.session
def torture(session: nox.Session) -> None:
    """Replicas SIGKILLed at random and a PostgreSQL outage (torture/run.py, ~3 min).

    Prints one table and writes benchmarks/results/torture.json; fails if a
    requirement does. Arguments after ``--`` go to the script (``--seed N``,
    ``--duration S``, ``--overlap replace --catch-up all``).
    """
    _install(session, "torture", extras="[postgres]")
    session.run(
        "python",
        os.fspath(ROOT / "torture" / "run.py"),
        *session.posargs,
        env={"PYTHONUNBUFFERED": "1"},
    )
