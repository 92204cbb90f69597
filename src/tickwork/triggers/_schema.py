"""The tables of the SQL stores: their version, and creating them.

Each store passes its own dialect's statements and a function that runs one
statement; the rules live here once. The version is stored in
``tickwork_meta``, and a store refuses a database whose version it does not
know, so an older tickwork never writes into tables a newer one changed.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Final

from tickwork._errors import TriggerStoreError
from tickwork._text import brief, cut

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

SCHEMA_VERSION: Final = 1
"""The version of the tables every store creates."""
SELECT_VERSION: Final = "SELECT value FROM tickwork_meta WHERE key = 'schema_version'"
# ASCII digits only ("²".isdigit() is True, and int() refuses it), and few
# enough that int() is cheap: a version of 5 000 nines is simply unknown.
_VERSION: Final = re.compile(r"[0-9]{1,18}")


def check_version(store: object, found: object) -> None:
    """Return if *found*, the stored version text, is one this tickwork reads.

    Raises:
        TriggerStoreError: a version above `SCHEMA_VERSION`, or one that is
            not a number (shown cut to 200 characters).
    """
    if (
        isinstance(found, str)
        and _VERSION.fullmatch(found)
        and int(found) <= SCHEMA_VERSION
    ):
        return
    shown = cut(found) if isinstance(found, str) else brief(found)
    msg = (
        f"{store!r} has schema version {shown}; this tickwork knows "
        f"versions up to {SCHEMA_VERSION}: upgrade tickwork"
    )
    raise TriggerStoreError(msg)


def ensure_schema(
    store: object,
    query: Callable[[str, tuple[object, ...]], Sequence[Sequence[Any]]],
    statements: Iterable[str],
    insert_version: str,
) -> None:
    """Create a store's tables if missing, then record or check their version.

    Runs in the caller's transaction, with the caller's driver: *query* runs
    one statement with its arguments and returns all its rows (an empty list
    for statements without any), *statements* are the dialect's ``CREATE
    TABLE IF NOT EXISTS`` statements, *insert_version* its ``INSERT`` of the
    version into ``tickwork_meta`` with one placeholder.

    Raises:
        TriggerStoreError: the database carries a version this tickwork does
            not know (see `check_version`).
    """
    for statement in statements:
        query(statement, ())
    found = query(SELECT_VERSION, ())
    if not found:
        query(insert_version, (str(SCHEMA_VERSION),))
    else:
        check_version(store, found[0][0])
