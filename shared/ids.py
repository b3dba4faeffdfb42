"""Identifiers and the clock every record and event uses.

- `new_id(prefix)`: `<prefix>_<12 hex ms since the epoch><16 hex random>`; sorts by creation time and is
  unique without coordination, so cursor pagination is "id below the cursor".
- `random_hex(digits)`: random lowercase hex, e.g. a 32-digit trace id (the W3C trace-id shape).
- `utcnow()`: the current time, timezone-aware UTC.

Ids need uniqueness, not secrecy (every query is scoped by tenant; secrets such as API keys use
`secrets`), so they come from a generator seeded once from the OS: a getrandom() call per id costs more
than the rest of a small request.
"""
from __future__ import annotations

import os
import random
import time
from datetime import datetime, timezone

_ids = random.Random(os.urandom(32))
os.register_at_fork(after_in_child=lambda: _ids.seed(os.urandom(32)))  # a forked worker must not repeat its parent


def random_hex(digits: int) -> str:
    return f"{_ids.getrandbits(digits * 4):0{digits}x}"


def new_id(prefix: str) -> str:
    """`<prefix>_<12 hex ms timestamp><16 hex random>`: sorts by creation time, unique without coordination."""
    return f"{prefix}_{int(time.time() * 1000):012x}{random_hex(16)}"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
