"""Connected datasets: the canonical events table over a table that already lives in an Ibis backend
(a Spark table, or any Ibis SQL backend opened by URL), read-only, through a column mapping."""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir

from journeys.schema import CANONICAL, RESERVED, ColumnMapping


def connect_url(url: str) -> Any:
    """An Ibis backend from a connection URL (``duckdb://file.db``, ``postgres://...``, ``trino://...``)."""
    return ibis.connect(url)


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
    if not seq:
        order = [t.customer_id, t.ts, t.touchpoint, t.channel, t.session_id, t.value, t.score, t.text]
        t = t.mutate(_seq=ibis.row_number().over(ibis.window(order_by=order)))
    t = t.rename(seq="_seq")
    return t.select("customer_id", "ts", "seq", "touchpoint", "channel", "session_id", "value", "score", "text", *attrs)
