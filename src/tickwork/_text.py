"""Values as they appear in messages: quoted, and cut to 200 characters.

A value that came from a user or a store may be any size (a 1 MB
``last_fired_at`` edited by hand); error messages and log lines show at most
`LIMIT` characters of it, ending in "…" when cut, so one bad row cannot
flood a log.
"""

from __future__ import annotations

from typing import Final

LIMIT: Final = 200
"""The most characters of one value a message or log line shows."""


def cut(text: str, limit: int = LIMIT) -> str:
    """*text* itself, or its first ``limit - 1`` characters and "…".

    Example:
        >>> cut("abc", 3), cut("abcd", 3)
        ('abc', 'ab…')
    """
    return text if len(text) <= limit else text[: limit - 1] + "…"


def brief(value: object) -> str:
    """``repr(value)``, cut to `LIMIT` characters.

    A ``repr`` that raises is shown as the value's type, so a broken object
    cannot break the error that names it.

    Example:
        >>> brief("x" * 300)[-3:]
        'xx…'
        >>> len(brief("x" * 300))
        200
    """
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a message must not fail on a bad repr
        text = f"<{type(value).__name__} object with a broken repr>"
    return cut(text)
