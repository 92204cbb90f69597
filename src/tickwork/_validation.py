"""Checks shared by every configuration object and function argument.

Each check names the field, the rule and the value, in the form
``'interval' must be finite and > 0 (got -1)``, and raises
`InvalidConfigError` (a `ValueError`) for a value out of range or
`WrongTypeError` (a `TypeError`) for a value of the wrong type. Nothing is
clamped. The ``attrs_*`` wrappers adapt them to attrs' validator signature.
"""

from __future__ import annotations

import functools
import inspect
import math
import unicodedata
from typing import TYPE_CHECKING, Any

from tickwork._errors import InvalidConfigError, WrongTypeError
from tickwork._text import brief

if TYPE_CHECKING:
    from collections.abc import Callable

    import attrs


def check_number(name: str, value: object) -> float:
    """Return *value* as a float if it is a real number (bools are not).

    An int too large for a float (``2**2000``) becomes an infinity of its
    sign, so the finite checks refuse it by name instead of letting an
    `OverflowError` escape.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        msg = f"{name!r} must be a real number (got {brief(value)})"
        raise WrongTypeError(msg)
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def check_finite(name: str, value: object) -> float:
    """Require a finite number (any sign)."""
    number = check_number(name, value)
    if not math.isfinite(number):
        msg = f"{name!r} must be a finite number (got {brief(value)})"
        raise InvalidConfigError(msg)
    return number


def check_positive(name: str, value: object) -> float:
    """Require a finite number > 0."""
    number = check_number(name, value)
    if not (math.isfinite(number) and number > 0):
        msg = f"{name!r} must be finite and > 0 (got {brief(value)})"
        raise InvalidConfigError(msg)
    return number


def check_non_negative(name: str, value: object) -> float:
    """Require a finite number >= 0."""
    number = check_number(name, value)
    if not (math.isfinite(number) and number >= 0):
        msg = f"{name!r} must be finite and >= 0 (got {brief(value)})"
        raise InvalidConfigError(msg)
    return number


def check_positive_int(name: str, value: object) -> int:
    """Require an int >= 1 (bools are not ints here)."""
    if isinstance(value, bool) or not isinstance(value, int):
        msg = f"{name!r} must be an int (got {brief(value)})"
        raise WrongTypeError(msg)
    if value < 1:
        msg = f"{name!r} must be >= 1 (got {brief(value)})"
        raise InvalidConfigError(msg)
    return value


def check_at_least(name: str, value: object, minimum: float) -> float:
    """Require a finite number >= *minimum*."""
    number = check_number(name, value)
    if not (math.isfinite(number) and number >= minimum):
        msg = f"{name!r} must be finite and >= {minimum:g} (got {brief(value)})"
        raise InvalidConfigError(msg)
    return number


def check_optional_positive(name: str, value: object) -> float | None:
    """Require None or a finite number > 0."""
    return None if value is None else check_positive(name, value)


def check_fraction(name: str, value: object) -> float:
    """Require a number in [0, 1): a jitter as a fraction of its base."""
    number = check_number(name, value)
    if not 0 <= number < 1:
        msg = f"{name!r} must be in [0, 1) (got {brief(value)})"
        raise InvalidConfigError(msg)
    return number


def check_bool(name: str, value: object) -> bool:
    """Require a bool (not merely something truthy)."""
    if not isinstance(value, bool):
        msg = f"{name!r} must be a bool (got {brief(value)})"
        raise WrongTypeError(msg)
    return value


def check_seed(name: str, value: object) -> int | None:
    """Require None or an int (bools are not ints here)."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        msg = f"{name!r} must be None or an int (got {brief(value)})"
        raise WrongTypeError(msg)
    return value


def check_name(name: str, value: object) -> str:
    """Require a name fit for logs and stores.

    A non-empty str without surrounding white space and without control
    characters (a newline in a name would forge log lines).
    """
    if not isinstance(value, str):
        msg = f"{name!r} must be a str (got {brief(value)})"
        raise WrongTypeError(msg)
    if not value or value != value.strip():
        msg = (
            f"{name!r} must be a non-empty str without surrounding white space "
            f"(got {brief(value)})"
        )
        raise InvalidConfigError(msg)
    if any(unicodedata.category(char) == "Cc" for char in value):
        msg = f"{name!r} must not contain control characters (got {brief(value)})"
        raise InvalidConfigError(msg)
    return value


def _target(value: object) -> object:
    """What calling *value* runs: partials and ``__wrapped__`` looked through."""
    target = value
    while isinstance(target, functools.partial):
        target = target.func
    if callable(target):
        target = inspect.unwrap(target)
    return target


def is_recognisably_sync(value: object) -> bool:
    """True for a callable that surely returns no awaitable when called.

    That is a ``def`` function or method (not ``async def``, not a lambda,
    which may well return a coroutine), a builtin, a class, or an object
    whose ``__call__`` is one of those; `functools.partial` and
    ``__wrapped__`` chains are looked through, so a decorated ``async def``
    passes. Anything it cannot tell about passes too.
    """
    target = _target(value)
    if inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target):
        return inspect.isasyncgenfunction(target)
    if inspect.isclass(target) or inspect.isbuiltin(target):
        return True
    if inspect.isfunction(target) or inspect.ismethod(target):
        return getattr(target, "__name__", "") != "<lambda>"
    call = getattr(type(target), "__call__", None)  # noqa: B004 - the method itself
    return inspect.isfunction(call) and is_recognisably_sync(call)


def is_recognisably_async(value: object) -> bool:
    """True for an ``async def`` function (or object whose ``__call__`` is one)."""
    target = _target(value)
    if inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target):
        return True
    call = getattr(type(target), "__call__", None)  # noqa: B004 - the method itself
    return inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call)


def check_async_callable(name: str, value: object, what: str) -> None:
    """Require an async callable; refuse one that is recognisably sync.

    *what* describes the expected signature, e.g. "taking no arguments".
    """
    if not callable(value):
        msg = f"{name!r} must be an async callable {what} (got {brief(value)})"
        raise WrongTypeError(msg)
    if is_recognisably_sync(value):
        msg = (
            f"{name!r} must be an async callable {what}, such as an 'async def' "
            f"function (got the synchronous {brief(value)})"
        )
        raise WrongTypeError(msg)


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    """Require one of the strings *choices*."""
    if not (isinstance(value, str) and value in choices):
        allowed = ", ".join(repr(choice) for choice in choices)
        msg = f"{name!r} must be one of {allowed} (got {brief(value)})"
        raise InvalidConfigError(msg)
    return value


def attrs_choice(*choices: str) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    """An attrs validator: one of the strings *choices*."""
    return _attrs(functools.partial(check_choice, choices=choices))


def _attrs(
    check: Callable[[str, object], object],
) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def validator(
        _inst: object, attribute: attrs.Attribute[Any], value: object
    ) -> None:
        check(attribute.name, value)

    return validator


attrs_positive = _attrs(check_positive)
attrs_optional_positive = _attrs(check_optional_positive)
attrs_fraction = _attrs(check_fraction)
attrs_bool = _attrs(check_bool)
attrs_finite = _attrs(check_finite)
attrs_name = _attrs(check_name)
attrs_positive_int = _attrs(check_positive_int)


def attrs_at_least(minimum: float) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    """An attrs validator: a finite number >= *minimum*."""
    return _attrs(functools.partial(check_at_least, minimum=minimum))
