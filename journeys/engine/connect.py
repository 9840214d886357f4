"""Connected datasets: the canonical events table over a table that already lives in an Ibis backend
(a Spark table, or any Ibis SQL backend opened by URL), read-only, through a column mapping.

Nothing is copied: every analysis runs in that backend. The store keeps only the URL, the table name
and the mapping; a password inside the URL is stored encrypted with the secrets key kept outside the
store, or stays a reference such as ``${PGPASSWORD}`` read from the environment (journeys/auth/vault.py).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.types as ir

from journeys.auth.vault import protect_url, redact_url, reveal_url, scrub
from journeys.errors import InputError, did_you_mean
from journeys.io.report import LoadReport
from journeys.schema import CANONICAL, RESERVED, ColumnMapping

if TYPE_CHECKING:
    from journeys.engine.store import DatasetInfo, Store

_backends = threading.local()


def connect_url(url: str) -> Any:
    """An Ibis backend from a connection URL (``duckdb:///file.db``, ``postgres://...``, ``trino://...``),
    one per thread and URL."""
    cache: dict[str, Any] = getattr(_backends, "cache", None) or {}
    _backends.cache = cache
    if url not in cache:
        try:
            cache[url] = ibis.connect(reveal_url(url))  # the stored URL holds no clear password
        except Exception as err:  # backends raise their own types; the person needs one sentence
            said = scrub(str(err).splitlines()[0] if str(err) else type(err).__name__, url)  # a driver may echo the URL
            raise InputError(f"Could not connect to '{url.split('@')[-1]}': {said[:200]}",
                             hint="Check the URL and that the backend's Ibis extra is installed.") from err
    return cache[url]


def connected_table(url: str, table: str, mapping: ColumnMapping) -> ir.Table:
    backend = connect_url(url)
    try:
        source = backend.table(table)
    except Exception as err:  # each backend has its own "not found" type
        raise InputError(f"No table '{table}' at the connection.{did_you_mean(table, _table_names(backend))}") from err
    return canonical_table(source, mapping)


def _table_names(backend: Any) -> list[str]:
    """Table names for a suggestion; some backend/driver pairs cannot list them (Ibis 12 on DuckDB 2.0)."""
    try:
        return list(backend.list_tables())
    except Exception:
        try:
            return [r[0] for r in backend.raw_sql("SELECT table_name FROM information_schema.tables").fetchall()]
        except Exception:
            return []


def connect_dataset(store: Store, url: str, table: str, mapping: ColumnMapping, *, name: str | None = None) -> DatasetInfo:
    """Register a read-only dataset over ``table`` at ``url``; its report comes from one aggregate query."""
    from journeys.engine.store import DatasetInfo

    t = connected_table(url, table, mapping)
    stats = t.aggregate(rows=t.count(), customers=t.customer_id.nunique(), touchpoints=t.touchpoint.nunique(),
                        start=t.ts.min(), end=t.ts.max(),
                        bad=(t.customer_id.isnull() | t.ts.isnull() | t.touchpoint.isnull()).cast("int64").sum()).to_pandas().iloc[0]
    dataset_id = secrets.token_hex(8)
    source = f"{url.split('@')[-1]} / {table}"
    warnings = ["Connected read-only: events stay in the source and are not validated row by row."]
    if int(stats.bad or 0):
        warnings.append(f"{int(stats.bad):,} rows lack a customer, timestamp or touchpoint; analyses ignore them.")
    report = LoadReport(
        dataset_id=dataset_id, name=name or table, source=source, rows_read=int(stats.rows),
        rows_stored=int(stats.rows) - int(stats.bad or 0),  # usable in place; nothing is copied
        rejected={}, examples={}, duplicates=0, tied_timestamps=0, customers=int(stats.customers),
        touchpoints=int(stats.touchpoints), start=str(stats.start) if stats.start is not None else None,
        end=str(stats.end) if stats.end is not None else None, warnings=warnings,
    )
    fingerprint = hashlib.blake2b(f"{redact_url(url)}|{table}|{mapping.to_json()}|{stats.rows}|{stats.end}".encode(),
                                  digest_size=16).hexdigest()
    attributes = tuple(c for c in t.columns if c not in {*CANONICAL.values(), "seq"})
    info = DatasetInfo(id=dataset_id, name=report.name, source=source, created=datetime.now(UTC).replace(tzinfo=None),
                       mapping=mapping, report=report, fingerprint=fingerprint, rows=int(stats.rows),
                       attributes=attributes, connection={"url": protect_url(url), "table": table})
    return store.register(info)


def canonical_table(table: ir.Table, mapping: ColumnMapping, *, seq: str | None = None) -> ir.Table:
    """The canonical columns (see DESIGN.md) over ``table``; other columns stay as attributes.

    The timestamp column must already be a timestamp (or epoch seconds). ``seq`` names a column with the
    source order; without one, ties are broken by the row's own values so results stay deterministic.
    """
    mapping.validate(list(table.columns))
    ts_col = table[mapping.timestamp]
    ts = ts_col.as_timestamp("s") if ts_col.type().is_numeric() else ts_col.cast("timestamp")

    def text(role: str) -> ir.Value:
        col = getattr(mapping, role)
        return table[col].cast("string") if col else ibis.null("string")

    def number(role: str) -> ir.Value:
        col = getattr(mapping, role)
        return table[col].cast("float64") if col else ibis.null("float64")

    core = {
        "customer_id": table[mapping.customer].cast("string"), "ts": ts,
        "touchpoint": table[mapping.touchpoint].cast("string"),
        **{CANONICAL[r]: text(r) for r in ("channel", "session", "text")},
        **{r: number(r) for r in ("value", "score")},
    }
    used = mapping.used_columns() | ({seq} if seq else set())
    attrs = {(c if c not in RESERVED else f"attr_{c}"): table[c] for c in table.columns if c not in used}
    t = table.select(**core, _seq=table[seq].cast("int64") if seq else ibis.null("int64"), **attrs)
    t = t.filter(t.customer_id.notnull() & t.ts.notnull() & t.touchpoint.notnull())
    if not seq:
        order = [t.customer_id, t.ts, t.touchpoint, t.channel, t.session_id, t.value, t.score, t.text]
        t = t.mutate(_seq=ibis.row_number().over(ibis.window(order_by=order)))
    t = t.rename(seq="_seq")
    return t.select("customer_id", "ts", "seq", "touchpoint", "channel", "session_id", "value", "score", "text", *attrs)
