"""The audit log: who downloaded which customer list, pushed which audience, deleted which dataset, and
when; also sign-ins and user changes. Admins read it on the Admin page or with ``journeys audit``.

Recording is one call from anywhere (the dashboard, the CLI, audience pushes)::

    from journeys.auth import audit
    audit.record("push_audience", "at-risk high value", user="ann", detail={"destination": "crm", "members": 1200})

``user`` defaults to whoever acts in this thread (:func:`journeys.auth.acting.actor`: the signed-in
person in the dashboard, ``cli:<login>`` on the command line). Entries are never edited or removed by
the application.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from journeys.auth.acting import actor
from journeys.auth.db import connect
from journeys.export import safe_csv

#: actions the application records (others may be recorded too; these are the documented ones)
ACTIONS = ("download_customers", "push_audience", "delete_dataset", "sign_in", "sign_in_failed", "sign_in_refused",
           "user_added", "user_removed", "user_changed", "access_changed")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    ts: str  # ISO 8601, UTC, seconds
    user: str
    action: str
    target: str
    detail: dict[str, Any]


def record(action: str, target: str, *, user: str | None = None, detail: dict[str, Any] | None = None,
           home: str | Path | None = None) -> AuditEntry:
    """Append one entry (now, UTC) and return it. ``target`` names the list, audience or dataset."""
    entry = AuditEntry(ts=datetime.now(UTC).isoformat(timespec="seconds"), user=user or actor(), action=action,
                       target=target, detail=dict(detail or {}))
    with connect(home) as con:
        con.execute("INSERT INTO audit VALUES (?, ?, ?, ?, ?)",
                    [entry.ts, entry.user, entry.action, entry.target, json.dumps(entry.detail, default=str)])
    return entry


def entries(*, user: str | None = None, action: str | None = None, since: str | None = None,
            limit: int | None = None, home: str | Path | None = None) -> list[AuditEntry]:
    """Entries, newest first, optionally for one user or action, from ``since`` (an ISO date or time)."""
    where, args = [], []
    for column, value in (("user", user), ("action", action)):
        if value:
            where.append(f"{column} = ?")
            args.append(value)
    if since:
        where.append("ts >= ?")
        args.append(since)
    sql = "SELECT ts, user, action, target, detail FROM audit" + (" WHERE " + " AND ".join(where) if where else "")
    sql += " ORDER BY ts DESC, rowid DESC" + (f" LIMIT {int(limit)}" if limit else "")
    with connect(home) as con:
        rows = con.execute(sql, args).fetchall()
    return [AuditEntry(ts, u, a, t, json.loads(d)) for ts, u, a, t, d in rows]


def frame(items: list[AuditEntry]) -> pd.DataFrame:
    """Entries as a table (detail as JSON text)."""
    return pd.DataFrame([asdict(e) | {"detail": json.dumps(e.detail, sort_keys=True)} for e in items],
                        columns=["ts", "user", "action", "target", "detail"])


def to_csv(items: list[AuditEntry]) -> bytes:
    """The entries as formula-safe CSV (every entry: the log is not capped at the table export limit)."""
    return safe_csv(frame(items), limit=max(len(items), 1))
