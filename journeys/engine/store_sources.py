"""The store's part for datasets of several sources: listing and removing sources, identity files and
exclusions (re-stitching the persons they touch), the dataset's row after a change, and serving loads
handed over by other processes. Mixed into :class:`journeys.engine.store.Store`."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import duckdb

from journeys.engine import derived
from journeys.engine import identities as idt
from journeys.engine import sources as srcs
from journeys.engine.identities import StitchReport
from journeys.engine.sharing import serve
from journeys.errors import InputError, JourneyError
from journeys.io.readers import inspect_file, relation

if TYPE_CHECKING:
    from journeys.engine.store import DatasetInfo, Store


#: the store methods another process may hand over (besides loads), see :func:`journeys.watch.call`
HANDED_OVER = ("add_identities", "remove_source", "exclude_ids")


class SourcesMixin:
    """Methods of :class:`Store` that change a dataset's sources and persons (each one transaction)."""

    if TYPE_CHECKING:
        home: Path
        read_only: bool
        _con: duckdb.DuckDBPyConnection
        _write_lock: threading.Lock

        def get(self, key: str) -> DatasetInfo: ...
        def cursor(self) -> duckdb.DuckDBPyConnection: ...
        def _writable(self) -> None: ...

    def serve_inbox(self) -> None:
        """Take loads from other processes (``journeys watch``, ``journeys ingest --into``) while this one holds
        the store: each runs here in its own short transaction (see :mod:`journeys.engine.sharing`)."""
        if self.read_only or getattr(self, "_inbox", None) is not None:
            return
        self._inbox = threading.Event()
        worker = threading.Thread(target=serve, args=(self.home, self.run_job, self._inbox), daemon=True,
                                  name="journeys-inbox")
        worker.start()

    def run_job(self, job: dict[str, Any]) -> dict[str, Any]:
        """One load handed over by another process; the answer says what happened, never raises."""
        try:
            if job.get("call") in HANDED_OVER:  # identities, remove-source, exclude-ids from the command line
                result = getattr(self, job["call"])(*job.get("args", []), **job.get("kwargs", {}))
                return {"ok": True, "result": result.to_dict() if hasattr(result, "to_dict") else
                        {"name": result.name, "rows": result.rows}}
            kwargs = dict(job.get("ingest") or {})
            path = Path(kwargs.pop("path"))
            if job.get("once") and kwargs.get("into"):
                info = self.get(kwargs["into"])
                if srcs.already_loaded(self.cursor(), info.id, _fingerprint(path)):
                    return {"ok": True, "skipped": True}
            return {"ok": True, "report": cast("Store", self).ingest(path, **kwargs).to_dict()}
        except JourneyError as err:
            return {"ok": False, "error": str(err), "code": err.code}
        except Exception as err:  # the serving thread must survive any one bad job
            return {"ok": False, "error": f"{type(err).__name__}: {str(err).splitlines()[0][:300]}", "code": "failed"}

    def _update_dataset(self, cur: duckdb.DuckDBPyConnection, info: DatasetInfo, load: dict[str, Any],
                        fingerprint: str, attributes_added: list[str], persons_delta: int) -> None:
        """The dataset's catalogue row after a source was added, appended to or removed (its derived tables go)."""
        table = info.table_name
        derived.drop_dataset(cur, info.id)
        n_sources = sum(s.kind == "events" for s in srcs.list_sources(cur, info.id))
        report = srcs.merged_report(info.report.to_dict(), load, srcs.dataset_summary(cur, table, info.report.customers + persons_delta), sources=n_sources)
        cur.execute("UPDATE datasets SET report = ?, fingerprint = ?, rows = ?, attributes = ?, source = ? WHERE id = ?",
                    [json.dumps(report), fingerprint, report["rows_stored"],
                     json.dumps([*info.attributes, *attributes_added]), report["source"], info.id])

    # ---- sources and persons -------------------------------------------------------------------
    def sources(self, key: str) -> list[srcs.SourceInfo]:
        """The dataset's sources in the order they were added (ties break in this order)."""
        info = self.get(key)
        found = srcs.list_sources(self.cursor(), info.id)
        if found or info.connection:
            return found
        r = info.report  # a dataset from before sources: its one file
        return [srcs.SourceInfo(info.id, 0, Path(info.source.split(":")[-1]).stem, "events", None, info.created,
                                info.mapping.to_json() if info.mapping else None, (r.to_dict(),), info.rows,
                                r.customers, r.start, r.end)]

    def remove_source(self, key: str, source: str) -> srcs.SourceInfo:
        """Remove one source (its events or its identity links) atomically; the persons it touched are re-stitched."""
        info = self.get(key)
        with self._changing(info) as cur:
            if not srcs.list_sources(cur, info.id):
                raise InputError(f"'{info.name}' has a single source: delete the dataset instead.")
            removed, delta = srcs.remove_source(cur, info.id, info.table_name, source)
            fp = hashlib.blake2b(f"{info.fingerprint}-{source}".encode(), digest_size=16).hexdigest()
            self._update_dataset(cur, info, {}, fp, [], delta)
            idt.stitch_report(cur, info.id, info.table_name)
        return removed

    def add_identities(self, key: str, path: str | Path, ids: list[str], *, exclude: list[str] | None = None,
                       as_source: str | None = None) -> StitchReport:
        """Load an identity file (each row links its non-empty ``ids`` columns) and re-stitch persons."""
        info = self.get(key)
        src = inspect_file(Path(path))
        with self._changing(info) as cur:
            stem = (as_source or "").strip() or Path(src.name).stem
            srcs.upgrade_events(cur, info.table_name, Path(info.source.split(":")[-1]).stem)
            if not srcs.list_sources(cur, info.id):
                srcs.claim_source(cur, info.id, Path(info.source.split(":")[-1]).stem, kind="events", explicit=False,
                                  channel=None, mapping=info.mapping.to_json() if info.mapping else None)
            no, _pos, _name = srcs.claim_source(cur, info.id, stem, kind="identities", explicit=False, channel=None,
                                                mapping=json.dumps({"ids": ids}))
            rel = relation(cur, src)
            rows, links, matched = idt.add_identity_links(cur, info.id, no, info.table_name, src.name,
                                                                 rel.sql_query().join(["(", ")"]) + " AS _f", list(rel.columns), ids)
            if exclude is not None:
                idt.set_exclusions(cur, info.id, exclude)
            idt.recompute_persons(cur, info.id)
            delta = srcs.refresh(cur, info.id, info.table_name, new_rows=False, drop_source=None, persons_changed=True)
            report = idt.stitch_report(cur, info.id, info.table_name)
            cur.execute("UPDATE sources SET reports = ?, rows = ? WHERE dataset_id = ? AND source_no = ?",
                        [json.dumps([{"rows_read": rows, "links": links, "ids_matched": matched, "source": src.name}]),
                         rows, info.id, no])
            fp = hashlib.blake2b((info.fingerprint + _fingerprint(Path(path))).encode(), digest_size=16).hexdigest()
            self._update_dataset(cur, info, {}, fp, [], delta)
        return report

    def exclude_ids(self, key: str, ids: list[str]) -> StitchReport:
        """Ids that must link nothing; persons are recomputed without them."""
        info = self.get(key)
        with self._changing(info) as cur:
            idt.ensure_links(cur, info.id)
            srcs.upgrade_events(cur, info.table_name, Path(info.source.split(":")[-1]).stem)
            idt.set_exclusions(cur, info.id, ids)
            idt.recompute_persons(cur, info.id)
            delta = srcs.refresh(cur, info.id, info.table_name, new_rows=False, drop_source=None, persons_changed=True)
            report = idt.stitch_report(cur, info.id, info.table_name)
            fp = hashlib.blake2b((info.fingerprint + "|".join(sorted(ids))).encode(), digest_size=16).hexdigest()
            self._update_dataset(cur, info, {}, fp, [], delta)
        return report

    def stitching(self, key: str) -> StitchReport | None:
        """The dataset's stitching report, or None when nothing links its ids (stitching is off)."""
        return idt.stored_stitch_report(self.cursor(), self.get(key).id)

    @contextmanager
    def _changing(self, info: DatasetInfo) -> Iterator[duckdb.DuckDBPyConnection]:
        """One write transaction on a stored dataset; rolled back whole on any failure."""
        self._writable()
        if info.connection:
            raise InputError(f"'{info.name}' is connected read-only to another engine: it cannot be changed here.")
        cur = self._con.cursor()
        cur.execute("SET TimeZone='UTC'")
        with self._write_lock:
            cur.execute("BEGIN TRANSACTION")
            try:
                yield cur
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            finally:
                cur.close()




def _fingerprint(path: Path) -> str:
    from journeys.engine.store import file_fingerprint

    return file_fingerprint(path)
