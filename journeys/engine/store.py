"""The dataset store: one DuckDB database under ``JOURNEYS_HOME`` holding every stored dataset.

Each dataset is an ordered canonical events table ``ev_<id>`` plus a row in ``datasets`` with its
name, mapping, load report and content fingerprint. Ids are random (unguessable) so links can be
shared inside a team. Ingest runs in one transaction: a failed or interrupted load leaves nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import ibis

from journeys.engine import ingest as ing
from journeys.errors import DatasetNotFound, InputError, JourneyError, StoreBusy, did_you_mean
from journeys.io.readers import inspect_file, relation
from journeys.io.report import LoadReport
from journeys.schema import ColumnMapping

DB_FILE = "journeys.duckdb"
DEFAULT_MEMORY_LIMIT = "2GB"
META_DDL = """
CREATE TABLE IF NOT EXISTS datasets (
    id VARCHAR PRIMARY KEY, name VARCHAR NOT NULL, source VARCHAR, created TIMESTAMP,
    mapping VARCHAR, report VARCHAR, fingerprint VARCHAR, rows BIGINT, attributes VARCHAR);
ALTER TABLE datasets ADD COLUMN IF NOT EXISTS connection VARCHAR;
"""


def default_home() -> Path:
    return Path(os.environ.get("JOURNEYS_HOME", ".journeys"))


def file_fingerprint(path: Path) -> str:
    digest = hashlib.blake2b(digest_size=16)
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


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


class Store:
    """Open (creating if needed) the store in ``home``. Safe to share across threads: each thread reads
    through its own cursor."""

    def __init__(self, home: str | Path | None = None, *, memory_limit: str | None = None) -> None:
        self.home = Path(home) if home is not None else default_home()
        self.home.mkdir(parents=True, exist_ok=True)
        self.path = self.home / DB_FILE
        try:
            self._con = duckdb.connect(str(self.path))
        except duckdb.IOException as err:
            if "lock" in str(err).lower():
                raise StoreBusy(
                    f"The journeys store at {self.path} is in use by another process.",
                    hint="Stop the other process (a running dashboard?) or set JOURNEYS_HOME to another folder.",
                ) from err
            raise
        self._con.execute("SET TimeZone='UTC'")
        # a bounded engine spills to disk instead of growing: 10M-event loads stay near 2 GB of memory
        limit = memory_limit or os.environ.get("JOURNEYS_MEMORY_LIMIT", DEFAULT_MEMORY_LIMIT)
        self._con.execute(f"SET memory_limit='{limit}'")
        self._con.execute(f"SET temp_directory='{(self.home / 'tmp').as_posix()}'")
        self._con.execute(META_DDL)
        self._local = threading.local()
        self._write_lock = threading.Lock()

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

    def close(self) -> None:
        self._con.close()

    # ---- catalogue ---------------------------------------------------------------------------
    def datasets(self) -> list[DatasetInfo]:
        rows = self.cursor().execute("SELECT * FROM datasets ORDER BY created, id").fetchall()
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
        rows = self.cursor().execute("SELECT * FROM datasets WHERE id = ? OR name = ? ORDER BY id = ? DESC",
                                     [key, key, key]).fetchall()
        if not rows:
            known = [d.name for d in self.datasets()]
            raise DatasetNotFound(f"No dataset '{key}' in the store (it may have been deleted).{did_you_mean(key, known)}",
                                  hint="List datasets with `journeys datasets`.")
        if len(rows) > 1 and rows[0][0] != key:
            raise DatasetNotFound(f"Several datasets are named '{key}'.", hint="Use the dataset id instead.")
        return self._info(rows[0])

    def table(self, key: str) -> ibis.Table:
        """The dataset's canonical events table as an Ibis expression (on its own backend if connected)."""
        info = self.get(key)
        if info.connection and info.mapping:
            from journeys.engine.connect import connected_table

            return connected_table(info.connection["url"], info.connection["table"], info.mapping)
        return self.backend().table(info.table_name)

    def register(self, info: DatasetInfo) -> None:
        """Add a dataset's catalogue row (used by connected datasets, which store no events here)."""
        with self._write_lock:
            self.cursor().execute(
                "INSERT INTO datasets VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [info.id, info.name, info.source, info.created, info.mapping.to_json() if info.mapping else None,
                 info.report.to_json(), info.fingerprint, info.rows, json.dumps(list(info.attributes)),
                 json.dumps(info.connection) if info.connection else None],
            )

    def rename(self, key: str, name: str) -> DatasetInfo:
        name = name.strip()
        if not name:
            raise JourneyError("A dataset name cannot be empty.")
        info = self.get(key)
        with self._write_lock:
            self.cursor().execute("UPDATE datasets SET name = ? WHERE id = ?", [name, info.id])
        return self.get(info.id)

    def delete(self, key: str) -> None:
        info = self.get(key)
        cur = self.cursor()
        with self._write_lock:
            cur.execute("BEGIN TRANSACTION")
            cur.execute(f"DROP TABLE IF EXISTS {ing.q(info.table_name)}")
            cur.execute("DELETE FROM datasets WHERE id = ?", [info.id])
            cur.execute("COMMIT")

    # ---- ingest ------------------------------------------------------------------------------
    def ingest(
        self,
        path: str | Path,
        *,
        preset: str | None = None,
        mapping: ColumnMapping | None = None,
        overrides: dict[str, str] | None = None,
        tz: str = "UTC",
        name: str | None = None,
        source_name: str | None = None,
        progress: Callable[[float, str], None] | None = None,
    ) -> LoadReport:
        """Load a file as a new dataset and return its load report. Nothing is stored if anything fails."""
        started = time.perf_counter()
        step = progress or (lambda _f, _m: None)
        path = Path(path)
        step(0.05, "Inspecting the file")
        src = inspect_file(path, name=source_name)
        dataset_id = secrets.token_hex(8)
        table = f"ev_{dataset_id}"
        cur = self._con.cursor()
        cur.execute("SET TimeZone='UTC'")
        with self._write_lock:
            cur.execute("BEGIN TRANSACTION")
            try:
                step(0.1, "Reading columns")
                rel = relation(cur, src)
                resolved = ing.resolve_mapping(rel, preset=preset, mapping=mapping, overrides=overrides or {})
                step(0.2, "Parsing and validating rows")
                staged = ing.stage_events(cur, src, rel, resolved, tz=tz)
                step(0.55, "Ordering journeys")
                ing.build_events_table(cur, table, staged.attributes)
                step(0.85, "Counting")
                summary = ing.summarize(cur, table, staged.attributes)
                ing.ensure_rows(staged, int(summary["rows_stored"]), src.name)  # type: ignore[call-overload]
                report = LoadReport(
                    dataset_id=dataset_id, name=name or Path(src.name.split(":")[-1]).stem, source=src.name,
                    rows_read=staged.rows_read, rejected=staged.rejected, examples=staged.examples,
                    coerced=staged.coerced,
                    warnings=staged.warnings + ing.time_warnings(summary["start"], summary["end"]),  # type: ignore[arg-type]
                    elapsed_s=round(time.perf_counter() - started, 3), **summary,  # type: ignore[arg-type]
                )
                fingerprint = hashlib.blake2b(
                    (file_fingerprint(path) + (resolved.to_json() if resolved else "paths") + tz).encode(), digest_size=16
                ).hexdigest()
                cur.execute(
                    "INSERT INTO datasets VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                    [dataset_id, report.name, src.name, datetime.now(UTC).replace(tzinfo=None),
                     resolved.to_json() if resolved else None, report.to_json(), fingerprint, report.rows_stored,
                     json.dumps(staged.attributes)],
                )
                ing.drop_staging(cur)
                cur.execute("COMMIT")
            except BaseException as err:
                cur.execute("ROLLBACK")
                if isinstance(err, duckdb.Error) and not isinstance(err, JourneyError):
                    raise InputError(f"'{src.name}' could not be loaded: {str(err).splitlines()[0][:300]}") from err
                raise
            finally:
                cur.close()
        step(1.0, "Done")
        return report
