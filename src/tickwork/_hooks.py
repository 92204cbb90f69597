"""Push observability: hook objects with optional methods, called on events.

A hook is any object; tickwork calls those of the methods below that it has,
with keyword arguments, and ignores the rest. A hook that raises is logged
(with traceback) and never breaks a loop. Methods are looked up once, when the
scheduler or sweeper is built, so an event with no listener costs nothing.

Scheduler events:

- ``on_run_started(*, loop, lateness)``
- ``on_run_finished(*, loop, outcome, duration, lateness)`` where *outcome*
  is ``"succeeded"``, ``"failed"``, ``"timed_out"`` or ``"cancelled"``
- ``on_tick_skipped(*, loop, count)``: *count* ticks passed during a run (or a
  late wake-up) and were skipped
- ``on_run_timed_out(*, loop, duration)``
- ``on_shutdown(*, report, duration)``: `ShutdownReport` and seconds from
  ``stop()`` to the end

Sweeper events, each with the `TriggerRow` as the sweep read it:

- ``on_trigger_fired(*, trigger)``: claimed and dispatched without error
- ``on_trigger_lost_claim(*, trigger)``: another sweeper claimed the window
- ``on_trigger_invalid(*, trigger, reason)``: on every sweep that skips the
  row (the WARNING is logged only the first time)
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final, final

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

LOGGER = logging.getLogger("tickwork.hooks")

EVENTS: Final = (
    "on_run_started",
    "on_run_finished",
    "on_tick_skipped",
    "on_run_timed_out",
    "on_shutdown",
    "on_trigger_fired",
    "on_trigger_lost_claim",
    "on_trigger_invalid",
)


@final
class Hooks:
    """The listeners of each event, resolved once from a set of hook objects."""

    __slots__ = ("_listeners",)

    def __init__(self, hooks: Iterable[object] = ()) -> None:
        """Collect, per event, the bound methods the hook objects define."""
        objects = tuple(hooks)
        self._listeners: dict[str, tuple[Callable[..., object], ...]] = {}
        for event in EVENTS:
            methods = tuple(
                method
                for hook in objects
                if callable(method := getattr(hook, event, None))
            )
            if methods:
                self._listeners[event] = methods

    def wants(self, event: str) -> bool:
        """True if some hook listens to *event* (lets callers skip work)."""
        return event in self._listeners

    def emit(self, event: str, **fields: object) -> None:
        """Call every listener of *event*; log and swallow what they raise."""
        for method in self._listeners.get(event, ()):
            try:
                method(**fields)
            except Exception:  # noqa: PERF203 - each hook is isolated from the next
                LOGGER.exception(
                    "hook %r raised in %s; ignored",
                    method,
                    event,
                    extra={"tickwork_event": event},
                )
