"""``python -m tickwork.triggers``: see `tickwork.triggers._cli`."""

from __future__ import annotations

import sys

from tickwork.triggers._cli import main

if __name__ == "__main__":
    sys.exit(main())
