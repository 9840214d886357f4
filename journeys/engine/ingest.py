"""Ingest: one source file -> one canonical, ordered events table, in a single transaction.

The heavy lifting (parsing, validation, ordering, per-customer steps) runs as DuckDB SQL; Python only
sees counts. Ordering inside a customer is always ``(ts, seq)`` with ``seq`` = position in the file (plus
the source's offset, see :mod:`journeys.engine.sources`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import duckdb

from journeys.errors import InputError, MappingError
from journeys.io.presets import PATH_PRESET, detect_mapping, path_table_columns, preset_mapping
from journeys.io.readers import SourceFile
from journeys.io.report import REASONS
from journeys.io.timestamps import check_timezone, timestamp_sql
from journeys.schema import CANONICAL, REQUIRED_ROLES, RESERVED, ColumnMapping

Progress = Callable[[float, str], None]
TEXT_ROLES = ("channel", "session", "text", "alias")
NUMBER_ROLES = ("value", "score")
#: columns of every stored events table, in order; attributes follow
CORE_COLUMNS = ("customer_id", "ts", "seq", "touchpoint", "channel", "session_id", "value", "score", "text")
PATH_EPOCH = "TIMESTAMP '2000-01-01 00:00:00'"


def one(result: duckdb.DuckDBPyConnection) -> tuple[Any, ...] | None:
    """The first row of a statement's result, reading it to the end: a result left half-read blocks the
    connection's next Ibis query (DuckDB 2.0)."""
    rows = result.fetchall()
    return rows[0] if rows else None


def q(name: str) -> str:
    """Quote an identifier for DuckDB."""
    return '"' + name.replace('"', '""') + '"'


@dataclass(slots=True)
class Staged:
    """What staging found: the mapping used, counts by reason and example rows, extra notes."""

    mapping: ColumnMapping | None
    rows_read: int
    rejected: dict[str, int]
    examples: dict[str, list[int]]
    coerced: dict[str, int]
    warnings: list[str]
    attributes: list[str]


def resolve_mapping(rel: duckdb.DuckDBPyRelation, *, preset: str | None, mapping: ColumnMapping | None,
                    overrides: dict[str, str]) -> ColumnMapping | None:
    """The mapping to use: explicit, preset, or detected; then ``--map`` overrides. None for path tables."""
    columns = list(rel.columns)
    if preset == PATH_PRESET:
        return None
    if mapping is None and preset:
        mapping = preset_mapping(preset, columns)
    if mapping is None:
        if {"customer", "timestamp", "touchpoint"} <= set(overrides):
            mapping = ColumnMapping.from_dict(overrides)
        else:
            found = detect_mapping(rel.limit(200).to_arrow_table().to_pandas())
            if found.preset == PATH_PRESET and not overrides:
                return None
            roles = found.roles | overrides
            if any(r not in roles for r in REQUIRED_ROLES):  # overrides may complete a partial detection
                raise MappingError(
                    "Could not work out which columns hold the customer, timestamp and touchpoint. " + " ".join(found.notes),
                    hint=f"Columns: {', '.join(columns[:20])}.", remedy="map_columns",
                )
            mapping = ColumnMapping.from_dict(roles)
    if overrides:
        mapping = mapping.with_overrides(overrides)
    mapping.validate(columns)
    return mapping


def _reject_lines(con: duckdb.DuckDBPyConnection) -> list[int]:
    try:
        rows = con.execute("SELECT DISTINCT line FROM reject_errors ORDER BY line").fetchall()
    except duckdb.CatalogException:
        return []
    return [int(r[0]) - 1 for r in rows]  # file line (header = 1) -> data row


def stage_events(con: duckdb.DuckDBPyConnection, src: SourceFile, rel: duckdb.DuckDBPyRelation,
                 mapping: ColumnMapping | None, *, tz: str) -> Staged:
    """Read the file (``rel`` is its probed relation) into temp table ``_staged`` with canonical columns
    and a ``_reject`` reason per row."""
    tz = check_timezone(tz)
    con.execute("DROP TABLE IF EXISTS reject_errors; DROP TABLE IF EXISTS reject_scans")
    if src.format == "parquet":
        # Parquet knows each row's position: no staging copy needed
        p = src.path.as_posix().replace("'", "''")
        con.execute(f"CREATE OR REPLACE TEMP VIEW _raw AS SELECT * EXCLUDE (file_row_number), "
                    f"file_row_number AS _pos FROM read_parquet('{p}', file_row_number=true)")
        base, pos = 0, "_pos"
    else:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _raw AS SELECT * FROM {src.reader_sql()}")
        # temp-table rowids start at an offset; seq is the 0-based position in the file
        (base,) = one(con.execute("SELECT coalesce(min(rowid), 0) FROM _raw")) or (0,)
        pos = "rowid"
    malformed = _reject_lines(con) if src.format == "csv" else []
    if mapping is None:
        return _stage_path_table(con, list(rel.columns), malformed, src, int(base), pos)
    types = dict(zip(rel.columns, [str(t) for t in rel.types], strict=True))

    def text(col: str) -> str:
        return f"nullif(trim(CAST({q(col)} AS VARCHAR)), '')"

    ts = timestamp_sql(q(mapping.timestamp), types[mapping.timestamp], tz=tz, unit=mapping.timestamp_unit)
    if mapping.timestamp_offset:
        ts = f"({ts} + to_milliseconds(coalesce(try_cast({q(mapping.timestamp_offset)} AS BIGINT), 0)))"
    if mapping.touchpoint_parts:
        touch = "nullif(concat_ws(' / ', " + ", ".join(text(c) for c in mapping.touchpoint_parts) + "), '')"
    else:
        touch = text(mapping.touchpoint)
    select = [
        f"{text(mapping.customer)} AS customer_id",
        f"{ts} AS ts",
        f"CAST({pos} - {int(base)} AS BIGINT) AS seq",
        f"{touch} AS touchpoint",
        f"{text(mapping.timestamp)} IS NULL AS _ts_missing",
    ]
    for role in TEXT_ROLES:
        col = getattr(mapping, role)
        select.append(f"{text(col) if col else 'CAST(NULL AS VARCHAR)'} AS {CANONICAL[role]}")
    for role in NUMBER_ROLES:
        col = getattr(mapping, role)
        select.append(f"{f'try_cast({text(col)} AS DOUBLE)' if col else 'CAST(NULL AS DOUBLE)'} AS {role}")
        if col:
            select.append(f"({text(col)} IS NOT NULL AND try_cast({text(col)} AS DOUBLE) IS NULL) AS _bad_{role}")
    attributes = []
    for col in rel.columns:
        if col in mapping.used_columns():
            continue
        out = col if col not in RESERVED and not col.startswith("_") else f"attr_{col.lstrip('_')}"
        attributes.append(out)
        select.append(f"{q(col)} AS {q(out)}")
    reject = (
        "CASE WHEN customer_id IS NULL THEN 'empty customer id' WHEN _ts_missing THEN 'missing timestamp' "
        "WHEN ts IS NULL THEN 'unparseable timestamp' WHEN touchpoint IS NULL THEN 'empty touchpoint' END"
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _staged AS SELECT *, {reject} AS _reject FROM (SELECT {', '.join(select)} FROM _raw)"
    )
    rejected, examples = _rejections(con, malformed)
    coerced = {}
    for role in NUMBER_ROLES:
        if getattr(mapping, role):
            (n,) = one(con.execute(f"SELECT count(*) FROM _staged WHERE _bad_{role} AND _reject IS NULL")) or (0,)
            if n:
                coerced[f"{role} not a number (left empty)"] = int(n)
    (n_raw,) = one(con.execute("SELECT count(*) FROM _raw")) or (0,)
    return Staged(mapping, int(n_raw) + len(malformed), rejected, examples, coerced, list(src.warnings), attributes)


def _rejections(con: duckdb.DuckDBPyConnection, malformed: list[int]) -> tuple[dict[str, int], dict[str, list[int]]]:
    rows = con.execute(
        "SELECT _reject, count(*), list(seq + 1 ORDER BY seq)[1:5] FROM _staged WHERE _reject IS NOT NULL GROUP BY 1"
    ).fetchall()
    found = {r[0]: (int(r[1]), [int(x) for x in r[2]]) for r in rows}
    if malformed:
        found["malformed line"] = (len(malformed), malformed[:5])
    ordered = [r for r in REASONS if r in found] + sorted(set(found) - set(REASONS))
    return {r: found[r][0] for r in ordered}, {r: found[r][1] for r in ordered}


def _stage_path_table(
    con: duckdb.DuckDBPyConnection, columns: list[str], malformed: list[int], src: SourceFile, base: int, pos: str
) -> Staged:
    """Expand an aggregated path table (``a > b > c``, conversions, nulls) into one synthetic journey per customer."""
    cols = path_table_columns(columns)
    conv = f"coalesce(try_cast({q(cols['conversions'])} AS DOUBLE), 0)" if "conversions" in cols else "0"
    nulls = f"coalesce(try_cast({q(cols['nulls'])} AS DOUBLE), 0)" if "nulls" in cols else "0"
    val = f"try_cast({q(cols['value'])} AS DOUBLE)" if "value" in cols else "NULL"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _paths AS
        SELECT {pos} - {base} AS r, list_filter(list_transform(string_split(CAST({q(cols['path'])} AS VARCHAR), '>'), lambda x: trim(x)),
                                       lambda x: x <> '') AS steps,
               CAST(round({conv}) AS BIGINT) AS conv, CAST(round({nulls}) AS BIGINT) AS nulls, {val} AS val
        FROM _raw""")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _staged AS
        WITH people AS (
            SELECT r, steps, conv, val, k FROM _paths, range(greatest(conv, 0) + greatest(nulls, 0)) g(k)
            WHERE len(steps) > 0),
        events AS (
            SELECT r, k, unnest(steps) AS touchpoint, generate_subscripts(steps, 1) AS i, NULL::DOUBLE AS value
            FROM people
            UNION ALL
            SELECT r, k, 'conversion', len(steps) + 1, CASE WHEN conv > 0 THEN val / conv END FROM people WHERE k < conv)
        SELECT 'path' || (r + 1) || '-' || (k + 1) AS customer_id, {PATH_EPOCH} + to_minutes(i) AS ts,
               CAST(row_number() OVER (ORDER BY r, k, i) - 1 AS BIGINT) AS seq, touchpoint,
               NULL::VARCHAR AS channel, NULL::VARCHAR AS session_id, value, NULL::DOUBLE AS score,
               NULL::VARCHAR AS text, CAST(NULL AS VARCHAR) AS _reject
        FROM events""")
    bad = con.execute(
        "SELECT CASE WHEN len(steps) = 0 THEN 'empty path' ELSE 'negative count' END, count(*), list(r + 1 ORDER BY r)[1:5] "
        "FROM _paths WHERE len(steps) = 0 OR conv < 0 OR nulls < 0 GROUP BY 1"
    ).fetchall()
    rejected = {b[0]: int(b[1]) for b in bad}
    examples = {b[0]: [int(x) for x in b[2]] for b in bad}
    if malformed:
        rejected["malformed line"], examples["malformed line"] = len(malformed), malformed[:5]
    (n_raw,) = one(con.execute("SELECT count(*) FROM _raw")) or (0,)
    (people,) = one(con.execute("SELECT sum(greatest(conv,0) + greatest(nulls,0)) FROM _paths WHERE len(steps) > 0")) or (0,)
    warnings = [*src.warnings, (f"Aggregated path table: {int(n_raw):,} path rows expanded into {int(people or 0):,} "
                "synthetic customers (timestamps one minute apart from 2000-01-01; converters end in 'conversion').")]
    return Staged(None, int(n_raw) + len(malformed), rejected, examples, {}, warnings, [])


def transform_staged(con: duckdb.DuckDBPyConnection, staged: Staged) -> None:
    """Per-load column transforms on temp table ``_staged`` (canonical columns, ``_reject`` per row), run
    after validation and before the rows are ordered and stored. Add one call per transform here (sentiment
    for the ``text`` role, pseudonymising personal data, ...); each may add or rewrite columns of
    ``_staged`` and append to ``staged.attributes`` / ``staged.warnings``.
    """
    from journeys import privacy  # personal data named in the report; --pseudonymize hashes ids (issue 14)

    privacy.transform(con, staged)
    from journeys.io.sentiment import sentiment_transform  # vaderSentiment loads only when a file is stored

    sentiment_transform(con, staged)  # sentiment, sentiment_band, language of the text role
    from journeys.analyses.scores import load_warning

    if warning := load_warning(con):  # scores off their scale are counted at load, not only on the VoC page
        staged.warnings.append(warning)


def build_events_table(con: duckdb.DuckDBPyConnection, table: str, attributes: list[str]) -> None:
    """Create the stored, ordered table with per-customer ``step`` and the next event, from ``_staged``."""
    attrs = "".join(f", {q(a)}" for a in attributes)
    con.execute(f"""
        CREATE TABLE {q(table)} AS
        SELECT {', '.join(CORE_COLUMNS)},
               CAST(row_number() OVER w AS BIGINT) AS step,
               lead(touchpoint) OVER w AS next_touchpoint,
               lead(ts) OVER w AS next_ts{attrs}
        FROM _staged WHERE _reject IS NULL
        WINDOW w AS (PARTITION BY customer_id ORDER BY ts, seq)
        """)


def summarize(con: duckdb.DuckDBPyConnection, table: str, attributes: list[str]) -> dict[str, object]:
    """Counts for the load report, computed in the engine."""
    t = q(table)
    # every customer has exactly one first event (step 1): counting those needs no hash table of 100M ids, which
    # ran a 2 GB engine out of memory inside the load's transaction
    stored, customers, touchpoints, start, end, ties = one(con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE step = 1), count(DISTINCT touchpoint), min(ts), max(ts), "
        f"count(*) FILTER (WHERE next_ts = ts) FROM {t}"
    )) or (0, 0, 0, None, None, 0)
    keys = ", ".join(["customer_id", "ts", "touchpoint", "channel", "session_id", "value", "score", "text",
                      *[q(a) for a in attributes]])
    # exact duplicates share customer and timestamp, so only tied rows need the full comparison
    (dups,) = one(con.execute(
        f"SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM {t} "
        f"SEMI JOIN (SELECT DISTINCT customer_id AS c, ts AS s FROM {t} WHERE next_ts = ts) ON customer_id = c AND ts = s "
        f"GROUP BY {keys})"
    )) or (0,)
    return {
        "rows_stored": int(stored), "customers": int(customers), "touchpoints": int(touchpoints),
        "start": start.isoformat(sep=" ") if start else None, "end": end.isoformat(sep=" ") if end else None,
        "tied_timestamps": int(ties), "duplicates": int(dups),
    }


def time_warnings(start: str | None, end: str | None) -> list[str]:
    """Say so when timestamps look misread (before 1990 or in the far future)."""
    out = []
    if start and start < "1990":
        out.append(f"The earliest timestamp is {start}: check the timestamp column and its unit.")
    if end and end > time.strftime("%Y", time.gmtime(time.time() + 2 * 365 * 86400)):
        out.append(f"The latest timestamp is {end}, in the future: check the timestamp column and its unit.")
    return out


def ensure_rows(staged: Staged, stored: int, name: str) -> None:
    if staged.rows_read == 0:
        raise InputError(f"The file '{name}' has a header but no data rows.")
    if stored == 0:
        reasons = "; ".join(f"{r}: {n:,}" for r, n in staged.rejected.items())
        raise InputError(f"No row of '{name}' could be stored ({reasons}).",
                         hint="Check the column mapping and the timestamp format.")


def drop_staging(con: duckdb.DuckDBPyConnection) -> None:
    """Remove the temp objects a load made (``_raw`` is a view for Parquet, a table otherwise)."""
    rows = con.execute("SELECT table_name, table_type FROM information_schema.tables "
                       "WHERE table_name IN ('_raw', '_staged', '_paths')").fetchall()
    for name, kind in rows:
        con.execute(f"DROP {'VIEW' if kind == 'VIEW' else 'TABLE'} IF EXISTS {name}")
