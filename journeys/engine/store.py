"""The dataset store: one DuckDB database under ``JOURNEYS_HOME`` holding every stored dataset.

Each dataset is an ordered canonical events table ``ev_<id>`` plus a row in ``datasets`` with its
name, mapping, load report and content fingerprint. Ids are random (unguessable) so links can be
shared inside a team; names are unique (a load whose name is taken gets `` (2)``). Ingest runs in one
transaction: a failed or interrupted load leaves nothing.

One DuckDB file has either one read-write process or several read-only ones. The dashboard keeps the
store open for writing; a read-only store (``Store(read_only=True)``, what the CLI's read commands
use) opens the file read-only, and when a writer holds it, reads a snapshot: a copy of the database
and its write-ahead log taken while the writer was quiet, so it holds every committed change.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import ibis

from journeys.engine import derived
from journeys.engine import identities as idt
from journeys.engine import ingest as ing
from journeys.engine import sources as srcs
from journeys.engine.identities import unstitched
from journeys.engine.sharing import is_lock_error, lock_holder, open_snapshot
from journeys.engine.store_ingest import IngestMixin, _renamed
from journeys.engine.store_ingest import file_fingerprint as file_fingerprint  # public here too
from journeys.engine.store_sources import SourcesMixin
from journeys.errors import (
    AmbiguousDataset,
    DatasetNotFound,
    JourneyError,
    NameTaken,
    StoreBusy,
    did_you_mean,
)
from journeys.io.report import LoadReport
from journeys.schema import ColumnMapping

DB_FILE = "journeys.duckdb"
DEFAULT_MEMORY_LIMIT = "2GB"  # a load's engine memory: 10M-event loads stay near 2 GB, 100M ones under 3 GB


def analysis_memory_limit() -> str:
    """The engine memory of analyses: half the machine's RAM, between 2 and 8 GB. A 100M-event funnel's windows
    ran out of 2 GB; loads keep :data:`DEFAULT_MEMORY_LIMIT` (``JOURNEYS_MEMORY_LIMIT`` overrides both)."""
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return DEFAULT_MEMORY_LIMIT
    return f"{max(2, min(8, ram // 2 // 2**30))}GB"

META_DDL = """
CREATE TABLE IF NOT EXISTS datasets (
    id VARCHAR PRIMARY KEY, name VARCHAR NOT NULL, source VARCHAR, created TIMESTAMP,
    mapping VARCHAR, report VARCHAR, fingerprint VARCHAR, rows BIGINT, attributes VARCHAR);
ALTER TABLE datasets ADD COLUMN IF NOT EXISTS connection VARCHAR;
"""
COLUMNS = ("id", "name", "source", "created", "mapping", "report", "fingerprint", "rows", "attributes", "connection")
#: a writer that finds only readers (CLI commands, seconds long) waits this long for them to finish
READERS_WAIT_S = 5.0
#: a snapshot is copied only from a file untouched for this long, and retried for up to SNAPSHOT_WAIT_S
QUIET_S = 0.5
SNAPSHOT_WAIT_S = 10.0


def default_home() -> Path:
    return Path(os.environ.get("JOURNEYS_HOME", ".journeys"))


@dataclass(frozen=True, slots=True)
class DatasetInfo:
    """A stored dataset's metadata. ``fingerprint`` changes whenever its content or mapping does."""

    id: str
    name: str
    source: str
    created: datetime
    mapping: ColumnMapping | None
    report: LoadReport
    fingerprint: str
    rows: int
    attributes: tuple[str, ...]
    connection: dict[str, str] | None = None  # {"url", "table"} of a connected (read-only) dataset

    @property
    def table_name(self) -> str:
        return f"ev_{self.id}"


class Store(IngestMixin, SourcesMixin):
    """Open (creating if needed) the store in ``home``. Safe to share across threads: each thread reads
    through its own cursor.

    ``read_only`` opens it for reading while another process (the dashboard) may hold it for writing;
    ``snapshot`` is then the folder of the copy being read, else None.
    """

    def __init__(self, home: str | Path | None = None, *, memory_limit: str | None = None,
                 read_only: bool = False) -> None:
        self.home = Path(home) if home is not None else default_home()
        self.home.mkdir(parents=True, exist_ok=True)
        self.path = self.home / DB_FILE
        self.read_only = read_only
        self.snapshot: Path | None = None
        self._con = self._open_read_only() if read_only else self._open_writable()
        self._con.execute("SET TimeZone='UTC'")
        # a bounded engine spills to disk instead of growing; a load runs under the smaller limit (see ingest)
        given = memory_limit or os.environ.get("JOURNEYS_MEMORY_LIMIT")
        self.memory_limit = given or analysis_memory_limit()
        self.load_memory_limit = given or DEFAULT_MEMORY_LIMIT
        self._con.execute(f"SET memory_limit='{self.memory_limit}'")
        self._con.execute(f"SET temp_directory='{(self.home / 'tmp').as_posix()}'")
        if not read_only:
            self._con.execute(META_DDL)
            self._con.execute(srcs.CATALOGUE_DDL)
        self._select = self._select_sql()
        self._local = threading.local()
        self._write_lock = threading.Lock()
        #: each is called with the dataset id after a committed load
        self.after_load: list[Callable[[str], object]] = []

    def _open_writable(self) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + READERS_WAIT_S
        while True:
            try:
                return duckdb.connect(str(self.path))
            except duckdb.IOException as err:
                if not is_lock_error(err):
                    raise
                # only readers hold it (DuckDB then says it could be opened read-only): they finish soon
                if "read-only mode" in str(err) and time.monotonic() < deadline:
                    time.sleep(0.1)
                    continue
                raise StoreBusy(f"The journeys store at {self.path} is in use by another process{lock_holder(err)}.",
                                remedy="free_store") from err

    def _open_read_only(self) -> duckdb.DuckDBPyConnection:
        if not self.path.exists():
            con = duckdb.connect()  # nothing stored yet: an empty catalogue, and nothing to lock
            con.execute(META_DDL)
            return con
        try:
            return duckdb.connect(str(self.path), read_only=True)
        except (duckdb.IOException, duckdb.ConnectionException) as err:
            # another process writes (a lock), or this one does (DuckDB refuses a second configuration)
            if not is_lock_error(err) and "different configuration" not in str(err):
                raise
            return self._open_snapshot(err)

    def _open_snapshot(self, lock_error: duckdb.Error) -> duckdb.DuckDBPyConnection:
        con, self.snapshot = open_snapshot(self.path, self.home, lock_error, quiet_s=QUIET_S, wait_s=SNAPSHOT_WAIT_S)
        return con

    def _select_sql(self) -> str:
        """``SELECT`` of the catalogue columns; a store made before connected datasets lacks ``connection``
        (a writer adds it, a reader reads NULL)."""
        present = {r[0] for r in self._con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = 'datasets'").fetchall()}
        return "SELECT " + ", ".join(c if c in present else f"NULL AS {c}" for c in COLUMNS) + " FROM datasets"

    def _writable(self) -> None:
        if self.read_only:
            raise JourneyError("This store was opened for reading only.")

    # ---- connections -------------------------------------------------------------------------
    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's DuckDB cursor (a connection to the same database)."""
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._con.cursor()
            cur.execute("SET TimeZone='UTC'")
            self._local.cursor = cur
        return cur

    def backend(self) -> Any:
        """This thread's Ibis backend over the store."""
        be = getattr(self._local, "backend", None)
        if be is None:
            be = ibis.duckdb.from_connection(self.cursor())
            self._local.backend = be
        return be

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        if getattr(self, "_inbox", None) is not None:
            self._inbox.set()
        for stop in getattr(self, "on_close", ()):  # background jobs (the sentiment backfill) end first
            stop()
        self._con.close()
        if self.snapshot is not None:
            shutil.rmtree(self.snapshot, ignore_errors=True)

    # ---- catalogue ---------------------------------------------------------------------------
    def datasets(self) -> list[DatasetInfo]:
        rows = self.cursor().execute(f"{self._select} ORDER BY created, id").fetchall()
        return [self._info(r) for r in rows]

    @staticmethod
    def _info(row: tuple[Any, ...]) -> DatasetInfo:
        id_, name, source, created, mapping, report, fingerprint, rows, attributes, connection = row
        return DatasetInfo(
            id=id_, name=name, source=source, created=created,
            mapping=ColumnMapping.from_json(mapping) if mapping else None,
            report=LoadReport.from_json(report), fingerprint=fingerprint, rows=int(rows),
            attributes=tuple(json.loads(attributes or "[]")),
            connection=json.loads(connection) if connection else None,
        )

    def get(self, key: str) -> DatasetInfo:
        """A dataset by id, or by its name when the name is unique."""
        rows = self.cursor().execute(f"{self._select} WHERE id = ? OR name = ? ORDER BY created, id", [key, key]).fetchall()
        by_id = [r for r in rows if r[0] == key]
        if by_id:
            return self._info(by_id[0])
        if not rows:
            known = [d.name for d in self.datasets()]
            raise DatasetNotFound(f"No dataset '{key}' in the store (it may have been deleted).{did_you_mean(key, known)}",
                                  remedy="list_datasets")
        if len(rows) > 1:  # names are unique since ingest makes them so; older stores may still share one
            raise AmbiguousDataset(f"{len(rows)} datasets are named '{key}': use the id ({', '.join(r[0] for r in rows)}).")
        return self._info(rows[0])

    def table(self, key: str) -> ibis.Table:
        """The dataset's canonical events table as an Ibis expression (on its own backend if connected)."""
        info = self.get(key)
        if info.connection and info.mapping:
            from journeys.engine.connect import connected_table

            return connected_table(info.connection["url"], info.connection["table"], info.mapping)
        return self.backend().table(info.table_name)

    def unstitched_table(self, key: str) -> ibis.Table:
        """The same events with every loaded id as its own customer (stitching off, for comparison)."""
        return unstitched(self.table(key))

    def register(self, info: DatasetInfo) -> DatasetInfo:
        """Add a dataset's catalogue row (used by connected datasets, which store no events here); a taken
        name gets `` (2)``. Returns the dataset as stored."""
        self._writable()
        with self._write_lock:
            cur = self.cursor()
            name = self._free_name(cur, info.name)
            if name != info.name:
                report = replace(info.report, name=name, warnings=[*info.report.warnings, _renamed(info.name, name)])
                info = replace(info, name=name, report=report)
            cur.execute(
                "INSERT INTO datasets VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [info.id, info.name, info.source, info.created, info.mapping.to_json() if info.mapping else None,
                 info.report.to_json(), info.fingerprint, info.rows, json.dumps(list(info.attributes)),
                 json.dumps(info.connection) if info.connection else None],
            )
        return info

    @staticmethod
    def _free_name(cur: duckdb.DuckDBPyConnection, name: str) -> str:
        """``name``, or ``name (2)``, ``name (3)``... whichever no dataset has yet."""
        taken = {r[0] for r in cur.execute("SELECT name FROM datasets").fetchall()}
        n = 2
        free = name
        while free in taken:
            free = f"{name} ({n})"
            n += 1
        return free

    def rename(self, key: str, name: str) -> DatasetInfo:
        """Give a dataset a new name; a name another dataset has is refused (names address datasets)."""
        self._writable()
        name = name.strip()
        if not name:
            raise JourneyError("A dataset name cannot be empty.")
        info = self.get(key)
        with self._write_lock:
            cur = self.cursor()
            other = ing.one(cur.execute("SELECT id FROM datasets WHERE name = ? AND id <> ?", [name, info.id]))
            if other:
                raise NameTaken(f"Another dataset ({other[0]}) is already named '{name}'. Pick a name no dataset has.")
            cur.execute("UPDATE datasets SET name = ? WHERE id = ?", [name, info.id])
        return self.get(info.id)

    def delete(self, key: str) -> None:
        self._writable()
        info = self.get(key)
        cur = self.cursor()
        with self._write_lock:
            cur.execute("BEGIN TRANSACTION")
            cur.execute(f"DROP TABLE IF EXISTS {ing.q(info.table_name)}")
            for extra in (idt.links_table(info.id), idt.persons_table(info.id)):
                cur.execute(f"DROP TABLE IF EXISTS {ing.q(extra)}")
            for meta in ("sources", "loaded_files", "stitching"):
                cur.execute(f"DELETE FROM {meta} WHERE dataset_id = ?", [info.id])
            cur.execute("DELETE FROM datasets WHERE id = ?", [info.id])
            derived.drop_dataset(cur, info.id)
            cur.execute("COMMIT")
