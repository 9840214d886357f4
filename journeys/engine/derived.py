"""Derived tables kept in the store, computed once per dataset fingerprint and read by every analysis, page,
CLI command and report until the dataset changes:

- a stored dataset's journeys under a reshaping (sessions, collapsed repeats, cleaning rules, node level, cut
  at the goal): reshaping recomputes windows over every event (tens of seconds on 10M events), the stored
  result is read like any table. Shaping works customer by customer, so the journeys of a segment are the
  stored journeys of its customers (a semi join), exactly what reshaping their events gives;
- whatever else a caller keys with :func:`stored` (the journey summaries of
  :mod:`journeys.analyses.summary`: one row per journey, per customer and move, ...).

The catalogue table ``derived`` names each table with its dataset, fingerprint and what it holds. A change
to a dataset (append, removed source, identities, deletion) drops its derived tables in the same
transaction; at most ``KEEP_PER_DATASET`` are kept per dataset, the least recently used going first. A
read-only store (the CLI beside the dashboard) reads the tables the dashboard made and builds none: it
computes from the events. A table that cannot be built (a write conflict, a full disk) only means the
slower path: derived tables are a shortcut, never a different answer.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
import ibis
import ibis.expr.operations as ops
import ibis.expr.types as ir

from journeys.shaping import Shaping, shape

CATALOGUE_DDL = """CREATE TABLE IF NOT EXISTS derived (
    name VARCHAR PRIMARY KEY, dataset_id VARCHAR, fingerprint VARCHAR, holds VARCHAR,
    created TIMESTAMP, used TIMESTAMP, rows BIGINT, build_s DOUBLE)"""
KEEP_PER_DATASET = 16  # the ten default views' tables and a few shapings
#: what a segment's customers are kept under (``holds`` starts with it), and how many segments per dataset
SEGMENT, KEEP_SEGMENTS = "segment ", 32
#: small tables keyed by a choice (the purchase touchpoints of a gap count), pruned with the segments: a new
#: choice never pushes out a summary that took seconds to build
GAPS = "gaps "
_SMALL = (SEGMENT, GAPS)
_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


@dataclass(frozen=True, slots=True)
class Built:
    """A table this process built: its name, what it holds and how long it took (the bench prints them)."""

    name: str
    holds: str
    seconds: float


LAST_BUILT: list[Built] = []  # appended to; whoever reads it clears it


def stored_dataset(events: ir.Table) -> str | None:
    """The dataset id when ``events`` is a stored events table itself (``ev_<id>`` on DuckDB, unfiltered)."""
    op = events.op()
    if not isinstance(op, ops.DatabaseTable) or not op.name.startswith("ev_"):
        return None
    try:
        if events.get_backend().name != "duckdb":
            return None
    except Exception:  # an unbound table has no backend: nothing to cache
        return None
    return op.name[3:]


def shaping_key(shaping: Shaping) -> str:
    """What the journeys depend on: the goal only matters when journeys are cut at it."""
    return repr(shaping if shaping.cut_at_goal else shaping.with_goal(None))


def table_name(dataset_id: str, fingerprint: str, key: str) -> str:
    digest = hashlib.blake2b((fingerprint + "|" + key).encode(), digest_size=8).hexdigest()
    return f"dv_{dataset_id}_{digest}"


def _lock(name: str) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(name, threading.Lock())


def _exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND NOT temporary",
                            [name]).fetchall()[0][0])


def _fingerprint(con: duckdb.DuckDBPyConnection, dataset_id: str) -> str | None:
    try:
        rows = con.execute("SELECT fingerprint FROM datasets WHERE id = ?", [dataset_id]).fetchall()
    except duckdb.CatalogException:  # not a journeys store (a scratch database)
        return None
    return str(rows[0][0]) if rows and rows[0][0] else None


def customers(events: ir.Table) -> int | None:
    """The stored dataset's customer count from its load report (None when ``events`` is not a stored table)."""
    dataset_id = stored_dataset(events)
    if dataset_id is None:
        return None
    try:
        rows = events.get_backend().con.execute(
            "SELECT CAST(json_extract(report, '$.customers') AS BIGINT) FROM datasets WHERE id = ?", [dataset_id]).fetchall()
    except duckdb.Error:
        return None
    return int(rows[0][0]) if rows and rows[0][0] is not None else None


def shaped(events: ir.Table, shaping: Shaping) -> ir.Table | None:
    """The stored journeys of ``events`` under ``shaping``, built now if the store is writable and they are
    missing; None when ``events`` is not a stored table or the store cannot hold them (then reshape in memory)."""
    return stored(events, shaping_key(shaping), lambda: shape(events, shaping))


def stored(events: ir.Table, key: str, build: Callable[[], ir.Table]) -> ir.Table | None:
    """The derived table ``key`` of the stored dataset ``events`` (built from ``build()`` when missing and the
    store is writable); None when ``events`` is not a stored table or the table cannot be had."""
    dataset_id = stored_dataset(events)
    if dataset_id is None:
        return None
    backend = events.get_backend()
    con = backend.con
    fingerprint = _fingerprint(con, dataset_id)
    if fingerprint is None:
        return None
    name = table_name(dataset_id, fingerprint, key)
    with _lock(name):
        if _exists(con, name):
            _touch(con, name)
            return backend.table(name)
        try:
            _build(con, name, dataset_id, fingerprint, key, build())
        except duckdb.Error:
            # a read-only store, a write conflict with a load changing the dataset, a full disk: the table is
            # only a shortcut, so the caller computes from the events instead (unless another process made it)
            return backend.table(name) if _exists(con, name) else None
    return backend.table(name)


def _build(con: duckdb.DuckDBPyConnection, name: str, dataset_id: str, fingerprint: str, key: str,
           expr: ir.Table) -> None:
    started = time.perf_counter()
    sql = ibis.to_sql(expr, dialect="duckdb")
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(CATALOGUE_DDL)
        con.execute(f'CREATE TABLE "{name}" AS {sql}')
        (rows,) = con.execute(f'SELECT count(*) FROM "{name}"').fetchall()[0]
        now = datetime.now(UTC).replace(tzinfo=None)
        seconds = round(time.perf_counter() - started, 3)
        con.execute("INSERT INTO derived VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [name, dataset_id, fingerprint, key, now, now, int(rows), seconds])
        _prune(con, dataset_id, fingerprint)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    LAST_BUILT.append(Built(name, key, seconds))


#: a read marks its table used at most this often (each mark is a write; pruning needs no finer order)
TOUCH_EVERY_S = 60.0
_TOUCHED: dict[str, float] = {}


def _touch(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Mark a table used (for the least-recently-used pruning); a read-only store skips it."""
    now = time.monotonic()
    if now - _TOUCHED.get(name, -TOUCH_EVERY_S) < TOUCH_EVERY_S:
        return
    _TOUCHED[name] = now
    with contextlib.suppress(duckdb.Error):
        con.execute("UPDATE derived SET used = ? WHERE name = ?", [datetime.now(UTC).replace(tzinfo=None), name])


def _prune(con: duckdb.DuckDBPyConnection, dataset_id: str, fingerprint: str) -> None:
    """Drop the dataset's tables of other fingerprints, and beyond ``KEEP_PER_DATASET`` (``KEEP_SEGMENTS`` for the
    small tables: segments' customers, which come and go with every filter, and gap counts) the least used."""
    rows = con.execute("SELECT name, fingerprint, holds FROM derived WHERE dataset_id = ? "
                       "ORDER BY used DESC, created DESC", [dataset_id]).fetchall()
    segments = [n for n, fp, holds in rows if fp == fingerprint and holds.startswith(_SMALL)]
    others = [n for n, fp, holds in rows if fp == fingerprint and not holds.startswith(_SMALL)]
    stale = [n for n, fp, _ in rows if fp != fingerprint] + others[KEEP_PER_DATASET:] + segments[KEEP_SEGMENTS:]
    for n in stale:
        con.execute(f'DROP TABLE IF EXISTS "{n}"')
        con.execute("DELETE FROM derived WHERE name = ?", [n])


def drop_dataset(cur: duckdb.DuckDBPyConnection, dataset_id: str) -> int:
    """Drop every derived table of a dataset (inside the caller's transaction); returns how many."""
    if not cur.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'derived' AND NOT temporary"
                       ).fetchall()[0][0]:
        return 0
    names = [r[0] for r in cur.execute("SELECT name FROM derived WHERE dataset_id = ?", [dataset_id]).fetchall()]
    for n in names:
        cur.execute(f'DROP TABLE IF EXISTS "{n}"')
    cur.execute("DELETE FROM derived WHERE dataset_id = ?", [dataset_id])
    return len(names)


def drop_changed_column(cur: duckdb.DuckDBPyConnection, dataset_id: str, column: str) -> int:
    """After ``column``'s values changed in place (a sentiment backfill: the fingerprint stays the same), drop the
    dataset's tables that copied it (reshaped journeys) and its segments' customers (a filter may read it). Returns
    how many were dropped."""
    if not cur.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'derived' AND NOT temporary"
                       ).fetchall()[0][0]:
        return 0
    rows = cur.execute("SELECT name, holds FROM derived WHERE dataset_id = ?", [dataset_id]).fetchall()
    copied = {r[0] for r in cur.execute("SELECT table_name FROM duckdb_columns() WHERE column_name = ? "
                                        "AND schema_name = 'main'", [column]).fetchall()}
    names = sorted(name for name, holds in rows if name in copied or holds.startswith(SEGMENT))
    for name in names:
        cur.execute(f'DROP TABLE IF EXISTS "{name}"')
        cur.execute("DELETE FROM derived WHERE name = ?", [name])
    return len(names)
