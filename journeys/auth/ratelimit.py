"""Sign-in rate limiting: after a few wrong passwords, each further try must wait, doubling each time.

Failures count per user name and per client address, since that key's last success and within
:data:`WINDOW_S`. While a key must wait, attempts are refused without checking the password (and are
not counted, so a person retrying too early does not lengthen their own wait). The attempts live in
the auth database, so every server process and restart sees them.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from journeys.auth.db import connect

#: wrong passwords allowed before waiting starts, per user name and per client address
FREE_FAILURES = {"user": 3, "client": 10}
BASE_DELAY_S = 2.0
MAX_DELAY_S = 300.0
WINDOW_S = 900.0


def keys(name: str, client: str | None) -> list[str]:
    return [f"user:{name.strip().lower()}", *([f"client:{client}"] if client else [])]


def _failures(con: object, key: str, now: float) -> tuple[int, float]:
    """Failures since the key's last success (within the window) and the time of the latest one."""
    row = con.execute(  # type: ignore[attr-defined]
        "SELECT count(*), max(ts) FROM attempts WHERE key = ? AND ok = 0 AND ts > ? AND ts > "
        "coalesce((SELECT max(ts) FROM attempts WHERE key = ? AND ok = 1), 0)", [key, now - WINDOW_S, key]).fetchone()
    return int(row[0]), float(row[1] or 0.0)


def delay_after(failures: int, kind: str) -> float:
    """Seconds to wait after ``failures`` consecutive failures (0 while under the free allowance)."""
    free = FREE_FAILURES[kind]
    if failures < free:
        return 0.0
    return min(BASE_DELAY_S * 2 ** (failures - free), MAX_DELAY_S)


def wait_s(keys_: list[str], *, now: float | None = None, home: str | Path | None = None) -> int:
    """Whole seconds before another attempt is allowed for these keys (0: now)."""
    now = time.time() if now is None else now
    longest = 0.0
    with connect(home) as con:
        for key in keys_:
            failures, last = _failures(con, key, now)
            longest = max(longest, last + delay_after(failures, key.split(":")[0]) - now)
    return math.ceil(longest) if longest > 0 else 0


def note(keys_: list[str], ok: bool, *, now: float | None = None, home: str | Path | None = None) -> None:
    """Record an attempt's outcome for each key; old rows are pruned."""
    now = time.time() if now is None else now
    with connect(home) as con:
        con.executemany("INSERT INTO attempts VALUES (?, ?, ?)", [(k, now, int(ok)) for k in keys_])
        con.execute("DELETE FROM attempts WHERE ts < ?", [now - 2 * WINDOW_S])
