"""The team server's own small database: users, sign-in attempts, dataset access and the audit log.

It is an SQLite file beside the dataset store (``$JOURNEYS_HOME/auth.sqlite``), not inside the DuckDB
store, because the store has one writer (the dashboard) while ``journeys users add`` must work while
the dashboard runs. SQLite lets several processes write in turn; each call opens a short connection.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DB_FILE = "auth.sqlite"
SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY, role TEXT NOT NULL, hash TEXT, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS attempts (
    key TEXT NOT NULL, ts REAL NOT NULL, ok INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS attempts_key ON attempts (key, ts);
CREATE TABLE IF NOT EXISTS access (
    dataset TEXT PRIMARY KEY, owner TEXT, everyone INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS shares (
    dataset TEXT NOT NULL, user TEXT NOT NULL, PRIMARY KEY (dataset, user));
CREATE TABLE IF NOT EXISTS audit (
    ts TEXT NOT NULL, user TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL, detail TEXT NOT NULL);
"""


def auth_home(home: str | Path | None = None) -> Path:
    """The folder of the auth database: ``home``, else ``JOURNEYS_HOME``, else ``./.journeys``."""
    return Path(home) if home is not None else Path(os.environ.get("JOURNEYS_HOME", ".journeys"))


@contextmanager
def connect(home: str | Path | None = None) -> Iterator[sqlite3.Connection]:
    """A short-lived connection in one transaction (committed on success, rolled back on error)."""
    folder = auth_home(home)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / DB_FILE
    con = sqlite3.connect(path, timeout=10)
    try:
        os.chmod(path, 0o600)  # password hashes and the audit log: the server's account only
        con.executescript(SCHEMA)
        with con:
            yield con
    finally:
        con.close()
