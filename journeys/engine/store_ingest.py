"""The store's load: one file as a new dataset, or as a source of an existing one, in one transaction (nothing
is stored if anything fails; a killed process leaves nothing). Mixed into :class:`journeys.engine.store.Store`."""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from journeys.engine import identities as idt
from journeys.engine import ingest as ing
from journeys.engine import sources as srcs
from journeys.errors import InputError, JourneyError
from journeys.io.readers import inspect_file, relation
from journeys.io.report import LoadReport
from journeys.schema import ColumnMapping

if TYPE_CHECKING:
    from journeys.engine.sources import SourceInfo
    from journeys.engine.store import DatasetInfo


def file_fingerprint(path: Path) -> str:
    digest = hashlib.blake2b(digest_size=16)
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


class IngestMixin:
    """:meth:`ingest` of :class:`journeys.engine.store.Store`."""

    if TYPE_CHECKING:
        _con: duckdb.DuckDBPyConnection
        _write_lock: threading.Lock
        after_load: list[Callable[[str], object]]
        memory_limit: str
        load_memory_limit: str

        def get(self, key: str) -> DatasetInfo: ...
        def sources(self, key: str) -> list[SourceInfo]: ...
        def _writable(self) -> None: ...
        @staticmethod
        def _free_name(cur: duckdb.DuckDBPyConnection, name: str) -> str: ...
        def _update_dataset(self, cur: duckdb.DuckDBPyConnection, info: DatasetInfo, load: dict[str, Any],
                            fingerprint: str, attributes_added: list[str], persons_delta: int) -> None: ...

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
        into: str | None = None,
        as_source: str | None = None,
        channel: str | None = None,
        dedupe: str | None = None,
    ) -> LoadReport:
        """Load a file as a new dataset, or with ``into`` as a source of an existing one, and return its load
        report. Nothing is stored if anything fails (one transaction; a killed process leaves nothing).

        ``name`` defaults to the file's stem; a name another dataset has gets `` (2)`` (the report says so).
        ``as_source`` names the source (default: the file's stem); naming an existing source appends to it.
        ``channel`` fills the channel of events that have none; ``dedupe`` (``exact`` or columns) drops
        events the dataset already holds.
        """
        self._writable()
        started = time.perf_counter()
        step = progress or (lambda _f, _m: None)
        path = Path(path)
        target = self.get(into) if into else None
        if target is not None and target.connection:
            raise InputError(f"'{target.name}' is connected read-only to another engine: nothing can be appended to it.",
                             hint="Load the file as a dataset of its own, or append to its source system.")
        if target is not None and as_source and mapping is None and not preset and not overrides:
            # another file of an existing source: the source's own mapping, unless told otherwise
            known = {s.name: s for s in self.sources(target.id) if s.kind == "events"}
            if as_source in known:
                stored_mapping = known[as_source].mapping
                mapping = ColumnMapping.from_json(stored_mapping) if stored_mapping else None
                channel = channel or known[as_source].channel
        step(0.05, "Inspecting the file")
        src = inspect_file(path, name=source_name)
        dataset_id = target.id if target else secrets.token_hex(8)
        table = f"ev_{dataset_id}"
        cur = self._con.cursor()
        cur.execute("SET TimeZone='UTC'")
        with self._write_lock:
            cur.execute(f"SET memory_limit='{self.load_memory_limit}'")  # loads: peak memory near 2 GB
            cur.execute("BEGIN TRANSACTION")
            try:
                step(0.1, "Reading columns")
                rel = relation(cur, src)
                resolved = ing.resolve_mapping(rel, preset=preset, mapping=mapping, overrides=overrides or {})
                step(0.2, "Parsing and validating rows")
                staged = ing.stage_events(cur, src, rel, resolved, tz=tz)
                ing.transform_staged(cur, staged)
                step(0.55, "Ordering journeys")
                stem = Path(src.name.split(":")[-1]).stem
                loaded = srcs.load_events(
                    cur, dataset_id, table, staged, new=target is None, source=(as_source or "").strip() or stem,
                    explicit=bool((as_source or "").strip()), channel=channel, dedupe=dedupe,
                    mapping_json=resolved.to_json() if resolved else None,
                    first_source=Path(target.source.split(":")[-1]).stem if target else None)
                step(0.85, "Counting")
                if target is None:
                    summary = ing.summarize(cur, table, staged.attributes)
                else:
                    summary = srcs.source_summary(cur, staged.attributes)
                ing.ensure_rows(staged, int(summary["rows_stored"]) + loaded.deduplicated, src.name)  # type: ignore[call-overload]
                wanted = (name or "").strip() or stem
                final = target.name if target else self._free_name(cur, wanted)
                renamed = [_renamed(wanted, final)] if target is None and final != wanted else []
                report = LoadReport(
                    dataset_id=dataset_id, name=final, source=src.name,
                    rows_read=staged.rows_read, rejected=staged.rejected, already_stored=loaded.deduplicated,
                    examples=staged.examples | ({srcs.ALREADY_STORED: loaded.dedupe_examples} if loaded.deduplicated else {}),
                    coerced=staged.coerced,
                    warnings=staged.warnings + ing.time_warnings(summary["start"], summary["end"]) + renamed,  # type: ignore[arg-type]
                    elapsed_s=round(time.perf_counter() - started, 3), **summary,  # type: ignore[arg-type]
                )
                file_fp = file_fingerprint(path)
                fingerprint = hashlib.blake2b(
                    ((target.fingerprint if target else "") + file_fp + (resolved.to_json() if resolved else "paths")
                     + tz + loaded.source + str(channel) + str(dedupe)).encode(), digest_size=16).hexdigest()
                if target is None:  # one source: its ids are the dataset's customers unless aliases joined some
                    ids = int(report.customers) if not loaded.links_added else int(
                        (ing.one(cur.execute(f"SELECT count(DISTINCT raw_id) FROM {table}")) or (0,))[0])
                else:
                    ids = loaded.source_ids_added
                srcs.record_load(cur, dataset_id, loaded.source_no, used=loaded.used_positions,
                                 report=report.to_dict(), ids_added=ids, fingerprint=file_fp, file=src.name)
                if target is None:
                    cur.execute(
                        "INSERT INTO datasets VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                        [dataset_id, report.name, src.name, datetime.now(UTC).replace(tzinfo=None),
                         resolved.to_json() if resolved else None, report.to_json(), fingerprint, report.rows_stored,
                         json.dumps(staged.attributes)],
                    )
                else:
                    self._update_dataset(cur, target, report.to_dict(), fingerprint, list(loaded.attributes_added),
                                         loaded.persons_delta)
                if loaded.links_added:
                    idt.stitch_report(cur, dataset_id, table)
                srcs.drop_new_rows(cur)
                ing.drop_staging(cur)
                cur.execute("COMMIT")
            except BaseException as err:
                cur.execute("ROLLBACK")
                if isinstance(err, duckdb.Error) and not isinstance(err, JourneyError):
                    raise InputError(f"'{src.name}' could not be loaded: {str(err).splitlines()[0][:300]}") from err
                raise
            finally:
                cur.execute(f"SET memory_limit='{self.memory_limit}'")
                cur.close()
        step(1.0, "Done")
        for listener in self.after_load:  # e.g. the dashboard prepares the default views in the background
            listener(dataset_id)
        return report

def _renamed(wanted: str, final: str) -> str:
    return f"A dataset named '{wanted}' already exists, so this one is named '{final}'."
