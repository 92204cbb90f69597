"""Checks shared by every configuration object and function argument.

Each check names the field, the rule and the value, in the form
``'interval' must be finite and > 0 (got -1)``, and raises
`InvalidConfigError` (a `ValueError`) for a value out of range or
`WrongTypeError` (a `TypeError`) for a value of the wrong type. Nothing is
clamped. The ``attrs_*`` wrappers adapt them to attrs' validator signature.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from tickwork._errors import InvalidConfigError, WrongTypeError

if TYPE_CHECKING:
    from collections.abc import Callable

    import attrs


def check_number(name: str, value: object) -> float:
    """Return *value* as a float if it is a real number (bools are not)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        msg = f"{name!r} must be a real number (got {value!r})"
        raise WrongTypeError(msg)
    return float(value)


def check_positive(name: str, value: object) -> float:
    """Require a finite number > 0."""
    number = check_number(name, value)
    if not (math.isfinite(number) and number > 0):
        msg = f"{name!r} must be finite and > 0 (got {value!r})"
        raise InvalidConfigError(msg)
    return number


def check_non_negative(name: str, value: object) -> float:
    """Require a finite number >= 0."""
    number = check_number(name, value)
    if not (math.isfinite(number) and number >= 0):
        msg = f"{name!r} must be finite and >= 0 (got {value!r})"
        raise InvalidConfigError(msg)
    return number


def check_positive_int(name: str, value: object) -> int:
    """Require an int >= 1 (bools are not ints here)."""
    if isinstance(value, bool) or not isinstance(value, int):
        msg = f"{name!r} must be an int (got {value!r})"
        raise WrongTypeError(msg)
    if value < 1:
        msg = f"{name!r} must be >= 1 (got {value!r})"
        raise InvalidConfigError(msg)
    return value


def check_optional_positive(name: str, value: object) -> float | None:
    """Require None or a finite number > 0."""
    return None if value is None else check_positive(name, value)


def check_fraction(name: str, value: object) -> float:
    """Require a number in [0, 1): a jitter as a fraction of its base."""
    number = check_number(name, value)
    if not 0 <= number < 1:
        msg = f"{name!r} must be in [0, 1) (got {value!r})"
        raise InvalidConfigError(msg)
    return number


def _attrs(
    check: Callable[[str, object], object],
) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def validator(
        _inst: object, attribute: attrs.Attribute[Any], value: object
    ) -> None:
        check(attribute.name, value)

    return validator


attrs_positive = _attrs(check_positive)
attrs_non_negative = _attrs(check_non_negative)
attrs_optional_positive = _attrs(check_optional_positive)
attrs_fraction = _attrs(check_fraction)
