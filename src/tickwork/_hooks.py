"""Push observability: hook objects with optional methods, called on events.

A hook is any object; tickwork calls those of the methods below that it has,
with keyword arguments. A hook that raises is logged (with traceback) and
never breaks a loop. Methods are looked up once, when the scheduler or
sweeper is built, so an event with no listener costs nothing.

Mistakes are refused when the hooks are given, not discovered at the first
event: ``hooks=`` must be an iterable of hook objects (a single hook object
is refused: wrap it in a list); a hook's ``on_*`` method must be a plain
(synchronous) method, since events are emitted from inside the scheduler's
bookkeeping and must not block; and an ``on_*`` method whose name is no
event (a typo) is refused with the list of known events.

Scheduler events:

- ``on_run_started(*, loop, lateness)``
- ``on_run_finished(*, loop, outcome, duration, lateness)`` where *outcome*
  is ``"succeeded"``, ``"failed"``, ``"timed_out"``, ``"cancelled"`` or
  ``"replaced"`` (``overlap="replace"``: the next tick cut it)
- ``on_tick_skipped(*, loop, count)``: *count* ticks passed during a run (or a
  late wake-up) and were skipped
- ``on_run_timed_out(*, loop, duration)``
- ``on_shutdown(*, report, duration)``: `ShutdownReport` and seconds from
  ``stop()`` (or from the cancellation that ended the scheduler) to the end

Coordination events (coordinated loops and triggers: *name* is the loop's
or the trigger's, *kind* is ``"loop"`` or ``"trigger"``):

- ``on_run_fenced(*, name, duration, kind)``: a run or dispatch was cut
  because its lease could not be renewed in time, or it ended after another
  replica took its window over
- ``on_window_lost(*, name, window, kind)``: this replica found window
  *window* (an aware UTC datetime) abandoned by a holder that vanished, and
  recorded it as lost
- ``on_lease_renewal_failed(*, name, kind)``: a renewal failed or was refused
- ``on_window_paused(*, name, count, kind)``: *count* windows came while the
  loop or trigger was paused and were not run (in-process loops too)
- ``on_catch_up(*, name, missed, running, lost, kind)``: once per outage
  found: *missed* windows passed while no replica could run them; the
  ``catch_up`` policy runs *running* of them, *lost* are recorded lost
  (beyond ``catch_up_limit``) and the rest are not run

Sweeper events, each with the `TriggerRow` as the sweep read it
(``on_trigger_fired`` comes from the dispatch's task, which is a background
task of the sweeper's loop in a `Scheduler`):

- ``on_trigger_fired(*, trigger)``: claimed and dispatched without error
- ``on_trigger_lost_claim(*, trigger)``: another sweeper claimed the window
- ``on_trigger_invalid(*, trigger, reason)``: on every sweep that skips the
  row (the WARNING is logged only the first time)
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final, Literal, final, get_args

from tickwork._errors import InvalidConfigError, WrongTypeError
from tickwork._text import brief

if TYPE_CHECKING:
    from collections.abc import Callable

LOGGER = logging.getLogger("tickwork.hooks")

Event = Literal[
    "on_run_started",
    "on_run_finished",
    "on_tick_skipped",
    "on_run_timed_out",
    "on_shutdown",
    "on_trigger_fired",
    "on_trigger_lost_claim",
    "on_trigger_invalid",
    "on_run_fenced",
    "on_window_lost",
    "on_lease_renewal_failed",
    "on_window_paused",
    "on_catch_up",
]
"""The name of a hook event (a `Literal`, so mypy catches a misspelt one)."""

EVENTS: Final[tuple[Event, ...]] = get_args(Event)


def check_hooks(hooks: object) -> tuple[object, ...]:
    """The hook objects of a ``hooks=`` argument, each checked.

    Raises:
        WrongTypeError: *hooks* is not an iterable of hook objects (a single
            hook object, a str), or an ``on_*`` method is ``async``.
        InvalidConfigError: an ``on_*`` method's name is no known event.
    """
    if isinstance(hooks, (str, bytes)) or not isinstance(hooks, Iterable):
        msg = (
            "'hooks' must be an iterable of hook objects, e.g. [hook] "
            f"(got {brief(hooks)})"
        )
        raise WrongTypeError(msg)
    objects = tuple(hooks)
    for hook in objects:
        for attribute in dir(hook):
            if not attribute.startswith("on_"):
                continue
            method = getattr(hook, attribute, None)
            if not callable(method):
                continue
            if attribute not in EVENTS:
                msg = (
                    f"hook {brief(hook)} has a method {attribute!r} that matches "
                    f"no event; the events are: {', '.join(EVENTS)}"
                )
                raise InvalidConfigError(msg)
            if inspect.iscoroutinefunction(method) or inspect.isasyncgenfunction(
                method
            ):
                msg = (
                    f"hook {brief(hook)}: {attribute!r} must be a synchronous "
                    "method (events are emitted without awaiting); hand slow "
                    "work to a task or a memory channel instead"
                )
                raise WrongTypeError(msg)
    return objects


@final
class Hooks:
    """The listeners of each event, resolved once from a set of hook objects."""

    __slots__ = ("_listeners",)

    def __init__(self, hooks: Iterable[object] = ()) -> None:
        """Check the hook objects, then collect each event's bound methods.

        Raises:
            WrongTypeError: see `check_hooks`.
            InvalidConfigError: see `check_hooks`.
        """
        objects = check_hooks(hooks)
        self._listeners: dict[Event, tuple[Callable[..., object], ...]] = {}
        for event in EVENTS:
            methods = tuple(
                method
                for hook in objects
                if callable(method := getattr(hook, event, None))
            )
            if methods:
                self._listeners[event] = methods

    def wants(self, event: Event) -> bool:
        """True if some hook listens to *event* (lets callers skip work)."""
        return event in self._listeners

    def emit(self, event: Event, **fields: object) -> None:
        """Call every listener of *event*; log and swallow what they raise."""
        for method in self._listeners.get(event, ()):
            try:
                method(**fields)
            except Exception:  # noqa: PERF203 - each hook is isolated from the next
                LOGGER.exception(
                    "hook %s raised in %s; ignored",
                    brief(method),
                    event,
                    extra={"tickwork_event": event},
                )
